package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Part describes one backend call of a composition; [Fetch] starts it.
type Part struct {
	// Name names the part in Composite.Failed, in the X-Composite-Partial
	// header and in a PartError, e.g. "order" or "product p-7". Required.
	Name string
	// Required parts must succeed: when one fails, the parts still
	// running are canceled and Compose returns a *PartError. Optional
	// parts may fail; the composite is then marked Partial and their
	// destinations keep the values they had.
	Required bool
	// Timeout bounds this part alone, from the moment Fetch starts it;
	// zero means only the composition's deadline.
	Timeout time.Duration
}

// Composite is the result of a composition: the data built by its parts,
// and which optional parts failed.
type Composite[T any] struct {
	// Data is what the parts filled in.
	Data T `json:"data"`
	// Partial is true when an optional part failed.
	Partial bool `json:"partial"`
	// Failed lists the optional parts that failed, sorted by name.
	Failed []PartFailure `json:"failed,omitempty"`
}

// PartFailure says which optional part failed and how.
type PartFailure struct {
	// Part is the part's Name.
	Part string `json:"part"`
	// Reason is "timeout" when the part ran out of time, else "error".
	Reason string `json:"reason"`
}

// PartError is returned by Compose when a required part failed; it wraps
// both ErrRequiredPart and the part's error.
type PartError struct {
	// Part is the failed part's Name.
	Part string
	// Err is what its fetch function returned.
	Err error
}

// Error implements error.
func (e *PartError) Error() string {
	return fmt.Sprintf("gateway: compose: required part %q: %v", e.Part, e.Err)
}

// Unwrap returns ErrRequiredPart and the part's error.
func (e *PartError) Unwrap() []error { return []error{ErrRequiredPart, e.Err} }

// Composition is one run of [Compose]: the parts started so far, under
// the composition's deadline. Its build function starts parts with
// [Fetch] and may wait for them with [Composition.Wait] before it starts
// the parts that need their results. Parts run concurrently with build;
// Fetch and Wait are called from build's goroutine (Fetch also from a
// part's fetch function while that part runs), as a sync.WaitGroup's Add
// and Wait are.
type Composition struct {
	// ctx is the composition's own context, which lives exactly as long
	// as the Compose call that made it: every part's context derives
	// from it, so that the failure of a required part cancels the rest.
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	err    error // the first required part's *PartError, an invalid part's or build's error
	failed []PartFailure
	over   bool // Compose has returned
}

// Fetch starts part p of composition c: fetch runs in its own goroutine
// with a context that ends at the composition's deadline (and at p's
// Timeout), and its result is stored in *into if it succeeds in time. A
// result that arrives after the part's context ended counts as a
// failure. Read *into only after [Composition.Wait] or Compose returned,
// and give each part a destination of its own.
//
// Call Fetch from the build function of [Compose] (or from the fetch
// function of a part that is still running). After a required part
// failed, and once Compose returned, Fetch starts nothing. An invalid
// part (no name, a negative Timeout, a nil into or fetch) fails the
// composition with an error wrapping ErrInvalidOption.
func Fetch[T any](c *Composition, p Part, into *T, fetch func(ctx context.Context) (T, error)) {
	if p.Name == "" || p.Timeout < 0 || into == nil || fetch == nil {
		c.fail(fmt.Errorf("%w: compose: part %q needs a name, a destination, a fetch function and a non-negative Timeout", ErrInvalidOption, p.Name))
		return
	}
	c.mu.Lock()
	if c.err != nil || c.over {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		ctx := c.ctx
		if p.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, p.Timeout)
			defer cancel()
		}
		v, err := fetch(ctx)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err() // finished too late to count
		}
		if err == nil {
			*into = v
			return
		}
		if p.Required {
			c.fail(&PartError{Part: p.Name, Err: err})
			return
		}
		reason := "error"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "timeout"
		}
		c.mu.Lock()
		c.failed = append(c.failed, PartFailure{Part: p.Name, Reason: reason})
		c.mu.Unlock()
	}()
}

// fail records the composition's first error and cancels the parts still
// running.
func (c *Composition) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.cancel(err)
	}
}

// Wait waits for every part started so far, and returns the *PartError of
// the first required part that failed (or the error of an invalid part),
// nil when none did. A build function calls it between stages: to start
// the parts that need the result of an earlier one, and to stop when a
// required part failed.
func (c *Composition) Wait() error {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Compose runs a composition, the API-composition pattern: build fills in
// a T from several backends, each call a part started with [Fetch], in
// parallel under one deadline (timeout; zero means ctx's own). Parts that
// depend on another's result start after build waited for it
// ([Composition.Wait]): fetch the order, then fan out to its customer and
// each of its products.
//
// Compose returns only after every part has returned. When a required
// part fails, the parts still running are canceled and Compose returns
// its *PartError; when build returns an error, the parts are canceled and
// Compose returns that error. When an optional part fails or times out,
// the composite carries what the other parts filled in and is marked
// Partial with the failure listed.
func Compose[T any](ctx context.Context, timeout time.Duration, build func(c *Composition, data *T) error) (*Composite[T], error) {
	if timeout < 0 || build == nil {
		return nil, fmt.Errorf("%w: compose: needs a build function and a non-negative timeout", ErrInvalidOption)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &Composition{ctx: ctx, cancel: cancel}
	out := new(Composite[T])
	err := build(c, &out.Data)
	if err != nil {
		c.fail(err)
	}
	werr := c.Wait()
	c.mu.Lock()
	c.over = true
	failed := c.failed
	c.mu.Unlock()
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(failed, func(a, b PartFailure) int {
		return cmp.Or(strings.Compare(a.Part, b.Part), strings.Compare(a.Reason, b.Reason))
	})
	out.Failed, out.Partial = failed, len(failed) > 0
	return out, nil
}
