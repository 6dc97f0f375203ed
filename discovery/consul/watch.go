package consul

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
)

// Watch returns a watcher of the passing instances of service, driven by
// blocking queries: each Next waits in Consul (up to the wait time) for
// the service's index to move, and returns only when the set changed.
func (r *Registry) Watch(_ context.Context, service string) (discovery.Watcher, error) {
	return &watcher{r: r, service: service}, nil
}

// watcher follows one service. Next must not be called concurrently with
// itself; Close may be called at any time and cancels a blocked Next.
type watcher struct {
	r       *Registry
	service string

	// Owned by Next.
	index    uint64
	started  bool
	last     []discovery.Instance
	failures int

	mu     sync.Mutex
	closed bool
	cancel context.CancelFunc // cancels the Next in progress
}

func (w *watcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, fmt.Errorf("consul: watch %s: %w", w.service, discovery.ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.mu.Unlock()
	defer cancel()

	for {
		if w.failures > 0 {
			if err := w.sleep(ctx, w.r.backoff.Delay(w.failures)); err != nil {
				return nil, w.ctxErr(err)
			}
		}
		q := (&api.QueryOptions{WaitIndex: w.index, WaitTime: w.r.waitTime}).WithContext(ctx)
		entries, meta, err := w.r.client.Health().Service(w.service, "", true, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil, w.ctxErr(ctx.Err())
			}
			// The agent may come back restarted, with an index below
			// ours that a blocking query would wait for: ask afresh, and
			// return the next answer even if unchanged so that the
			// caller learns the watch has recovered.
			w.failures++
			w.index = 0
			w.started = false
			return nil, fmt.Errorf("consul: watch %s: %w", w.service, err)
		}
		w.failures = 0
		w.advance(meta.LastIndex)
		set := toInstances(entries)
		if !w.started || !discovery.EqualSets(set, w.last) {
			w.started = true
			w.last = set
			return discovery.CloneInstances(set), nil
		}
	}
}

// advance moves the wait index as Consul's blocking-query documentation
// asks: an index that goes backwards (a restarted agent, a snapshot
// restore) resets to 0 so that the next query answers at once with the
// full state, and an index is never 0 after an answer, which would make
// every query return at once.
func (w *watcher) advance(index uint64) {
	switch {
	case index < w.index:
		w.index = 0
	case index == 0:
		w.index = 1
	default:
		w.index = index
	}
}

func (w *watcher) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ctxErr turns a cancellation into ErrClosed if Close caused it.
func (w *watcher) ctxErr(err error) error {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return fmt.Errorf("consul: watch %s: %w", w.service, discovery.ErrClosed)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("consul: watch %s: %w", w.service, err)
	}
	return err
}

func (w *watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.cancel != nil {
		w.cancel()
	}
	return nil
}
