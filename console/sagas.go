package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/saga"
)

// SagaStore is what the console reads of a saga store; every saga.Store
// has both methods.
type SagaStore interface {
	Get(ctx context.Context, id string) (*saga.Record, error)
	List(ctx context.Context, f saga.Filter) ([]*saga.Record, error)
}

// SagaOperator is what the console's saga actions call; a
// *saga.Orchestrator has both methods.
type SagaOperator interface {
	RetryCompensation(ctx context.Context, id string) error
	Resolve(ctx context.Context, id, note string) error
}

type sagaSource struct {
	store SagaStore
	op    SagaOperator // nil: the sagas are shown, not acted on
}

// AddSagas shows the sagas of store: a list filtered by name, status, age
// and ID prefix, paged by the store's cursor, and each saga's steps on a
// timeline. With op (the orchestrator that drives them), an operator may
// retry a failed compensation or resolve a saga by hand, one at a time or
// every failed saga of a name; a nil op shows them only. A later call
// replaces the store.
func (c *Console) AddSagas(store SagaStore, op SagaOperator) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sagas = &sagaSource{store: store, op: op}
}

func (c *Console) sagaSource() (*sagaSource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sagas == nil {
		return nil, notFound("no saga store is registered with this console")
	}
	return c.sagas, nil
}

const (
	// stuckAfter is how long an in-flight saga may go without a write
	// before the overview counts it as stuck: far longer than any step's
	// timeout and lease renewal.
	stuckAfter = 5 * time.Minute
	// countCap bounds the counts of the dead letters waiting: they are
	// counted up to this many plus one, and "more than" said beyond.
	countCap = 1000
	// sagaCountCap bounds the overview's counts of sagas, which list the
	// records (a saga store has no count): at most this many plus one.
	sagaCountCap = 100
)

// SagaSummary is one saga in the list.
type SagaSummary struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Step      string    `json:"step,omitempty"` // the step it stands at, if in flight or failed
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SagasView is the sagas page.
type SagasView struct {
	// Filter is the list's filter, as the query gave it.
	Filter SagaQuery `json:"filter"`
	// Sagas is one page, newest first.
	Sagas []SagaSummary `json:"sagas"`
	// Next is the query string of the next page; "" on the last.
	Next string `json:"next,omitempty"`
	// Statuses are the statuses one may filter by.
	Statuses []string `json:"statuses"`
	// CanAct is whether the operator may act on these sagas.
	CanAct bool `json:"can_act"`
}

// SagaQuery is the sagas list's filter: the query parameters name,
// status, q (an ID prefix), older (a duration: not updated for that
// long), limit, and after (the page's cursor).
type SagaQuery struct {
	Name   string `json:"name,omitempty"`
	Status string `json:"status,omitempty"`
	Q      string `json:"q,omitempty"`
	Older  string `json:"older,omitempty"`
	Limit  int    `json:"limit"`
	After  string `json:"after,omitempty"`
}

// parseSagaQuery reads the list's filter from q.
func parseSagaQuery(q url.Values, now time.Time) (SagaQuery, saga.Filter, error) {
	sq := SagaQuery{Name: q.Get("name"), Status: q.Get("status"), Q: q.Get("q"), Older: q.Get("older"), Limit: pageSize}
	f := saga.Filter{Name: sq.Name, IDPrefix: sq.Q, Newest: true}
	if sq.Status != "" {
		if !slices.Contains(sagaStatuses, sq.Status) {
			return sq, f, badRequest("status must be one of %s", strings.Join(sagaStatuses, ", "))
		}
		f.Statuses = []saga.Status{saga.Status(sq.Status)}
	}
	if sq.Older != "" {
		d, err := time.ParseDuration(sq.Older)
		if err != nil || d < 0 {
			return sq, f, badRequest("older must be a duration such as 10m or 2h")
		}
		f.UpdatedBefore = now.Add(-d)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return sq, f, badRequest("limit must be 1 to %d", maxPageSize)
		}
		sq.Limit = n
	}
	if sq.After = q.Get("after"); sq.After != "" {
		var cur saga.Cursor
		if err := cur.UnmarshalText([]byte(sq.After)); err != nil {
			return sq, f, badRequest("after is not a cursor of this list")
		}
		f.After = &cur
	}
	if err := f.Validate(); err != nil {
		return sq, f, badRequest("%s", err.Error())
	}
	f.Limit = sq.Limit + 1 // one more, to know whether a next page exists
	return sq, f, nil
}

var sagaStatuses = []string{
	string(saga.StatusRunning), string(saga.StatusWaiting), string(saga.StatusCompensating), string(saga.StatusCompleted),
	string(saga.StatusCompensated), string(saga.StatusCompensationFailed), string(saga.StatusResolved),
}

func (c *Console) sagasList(r *http.Request) (any, error) {
	src, err := c.sagaSource()
	if err != nil {
		return nil, err
	}
	sq, f, err := parseSagaQuery(r.URL.Query(), time.Now())
	if err != nil {
		return nil, err
	}
	recs, err := src.store.List(r.Context(), f)
	if err != nil {
		return nil, fmt.Errorf("console: list sagas: %w", err)
	}
	op, _ := OperatorFromContext(r.Context())
	v := SagasView{Filter: sq, Sagas: make([]SagaSummary, 0, min(len(recs), sq.Limit)), Statuses: sagaStatuses,
		CanAct: src.op != nil && c.canAct(op)}
	for i, rec := range recs {
		if i == sq.Limit {
			last, _ := recs[i-1].Cursor().MarshalText() // cannot fail
			next := url.Values{}
			for k, val := range map[string]string{"name": sq.Name, "status": sq.Status, "q": sq.Q, "older": sq.Older} {
				if val != "" {
					next.Set(k, val)
				}
			}
			if sq.Limit != pageSize {
				next.Set("limit", strconv.Itoa(sq.Limit))
			}
			next.Set("after", string(last))
			v.Next = next.Encode()
			break
		}
		v.Sagas = append(v.Sagas, summarize(rec))
	}
	return v, nil
}

// summarize is rec as the list shows it.
func summarize(rec *saga.Record) SagaSummary {
	s := SagaSummary{ID: rec.ID, Name: rec.Name, Status: string(rec.Status), Error: rec.Error,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}
	if rec.Status != saga.StatusCompleted && rec.Status != saga.StatusCompensated {
		for _, st := range rec.Steps {
			switch st.Status {
			case saga.StepRunning, saga.StepWaiting, saga.StepCompensating, saga.StepCompensationFailed:
				s.Step = st.Name
			case saga.StepFailed:
				if s.Step == "" {
					s.Step = st.Name
				}
			}
		}
	}
	return s
}

// SagaView is one saga, on its own page.
type SagaView struct {
	SagaSummary
	Version    int64     `json:"version"`
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	Deadline   time.Time `json:"deadline,omitzero"`
	// WaitKey and WakeAt are, while the saga waits, the correlation key of
	// the signal it waits for and when its wait ends (see saga.Wait).
	WaitKey string    `json:"wait_key,omitempty"`
	WakeAt  time.Time `json:"wake_at,omitzero"`
	Note    string    `json:"note,omitempty"`
	// State is the saga's state as its last write left it, indented JSON.
	State string `json:"state"`
	// Steps are its steps in definition order.
	Steps []saga.StepRecord `json:"steps"`
	// Timeline is what happened, in order of time: each step's last
	// execution and compensation.
	Timeline []TimelineEntry `json:"timeline"`
	// CanRetry and CanResolve say which actions apply (a failed
	// compensation, and an operator who may act).
	CanRetry   bool `json:"can_retry"`
	CanResolve bool `json:"can_resolve"`
}

// TimelineEntry is one step's execution or compensation.
type TimelineEntry struct {
	Step string `json:"step"`
	// Kind is "execute" or "compensate".
	Kind      string    `json:"kind"`
	StartedAt time.Time `json:"started_at"`
	// EndedAt is zero while it runs, or when a crash interrupted it.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// Attempts is how many times it was tried, across crashes.
	Attempts int `json:"attempts"`
	// Outcome is the step's status after it: done, failed, compensated,
	// compensation_failed, or running while it has not ended.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

func (c *Console) sagaDetail(r *http.Request) (any, error) {
	src, err := c.sagaSource()
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	rec, err := src.store.Get(r.Context(), id)
	if errors.Is(err, saga.ErrNotFound) {
		return nil, notFound("no saga %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("console: get saga %s: %w", id, err)
	}
	op, _ := OperatorFromContext(r.Context())
	act := src.op != nil && c.canAct(op) && rec.Status == saga.StatusCompensationFailed
	v := SagaView{SagaSummary: summarize(rec), Version: rec.Version, Owner: rec.Owner, LeaseUntil: rec.LeaseUntil,
		Deadline: rec.Deadline, WaitKey: rec.WaitKey, WakeAt: rec.WakeAt, Note: rec.Note, Steps: rec.Steps, Timeline: timeline(rec), CanRetry: act, CanResolve: act}
	var state bytes.Buffer
	if json.Indent(&state, rec.State, "", "  ") == nil {
		v.State = state.String()
	} else {
		v.State = string(rec.State)
	}
	return v, nil
}

// timeline orders rec's executions and compensations by their start.
func timeline(rec *saga.Record) []TimelineEntry {
	out := []TimelineEntry{}
	for _, st := range rec.Steps {
		if !st.StartedAt.IsZero() {
			e := TimelineEntry{Step: st.Name, Kind: "execute", StartedAt: st.StartedAt, EndedAt: st.EndedAt, Attempts: st.Attempts}
			switch {
			case st.Status == saga.StepWaiting:
				e.Outcome = string(saga.StepWaiting)
			case st.EndedAt.IsZero():
				e.Outcome = string(saga.StepRunning)
			case st.Failed:
				// The step keeps one error: its execution's until a
				// compensation of it writes its own.
				e.Outcome = string(saga.StepFailed)
				if st.Status == saga.StepFailed {
					e.Error = st.Error
				}
			default:
				e.Outcome = string(saga.StepDone)
			}
			out = append(out, e)
		}
		if !st.CompensateStartedAt.IsZero() {
			e := TimelineEntry{Step: st.Name, Kind: "compensate", StartedAt: st.CompensateStartedAt,
				EndedAt: st.CompensateEndedAt, Attempts: st.CompensateAttempts}
			switch {
			case st.CompensateEndedAt.IsZero():
				e.Outcome = string(saga.StepCompensating)
			case st.Status == saga.StepCompensationFailed:
				e.Outcome, e.Error = string(saga.StepCompensationFailed), st.Error
			default:
				e.Outcome = string(saga.StepCompensated)
			}
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b TimelineEntry) int { return a.StartedAt.Compare(b.StartedAt) })
	return out
}

// sagasItem is the sagas' line on the overview: the failed compensations
// and the in-flight sagas without a write for stuckAfter.
func (c *Console) sagasItem(ctx context.Context) (OverviewItem, bool) {
	c.mu.Lock()
	src := c.sagas
	c.mu.Unlock()
	if src == nil {
		return OverviewItem{}, false
	}
	it := OverviewItem{Area: "sagas", Title: "Sagas"}
	failed, err := src.store.List(ctx, saga.Filter{Statuses: []saga.Status{saga.StatusCompensationFailed}, Limit: sagaCountCap + 1})
	if err != nil {
		it.Error = err.Error()
		return it, true
	}
	stuck, err := src.store.List(ctx, saga.Filter{Statuses: []saga.Status{saga.StatusRunning, saga.StatusCompensating},
		UpdatedBefore: time.Now().Add(-stuckAfter), Limit: sagaCountCap + 1})
	if err != nil {
		it.Error = err.Error()
		return it, true
	}
	it.Attention = int64(len(failed) + len(stuck))
	it.Total = it.Attention
	it.Summary = capped(len(failed), sagaCountCap) + " failed compensation, " + capped(len(stuck), sagaCountCap) +
		" in flight without a write for " + stuckAfter.String()
	return it, true
}

// capped formats a count taken with limit+1 as its bound.
func capped(n, limit int) string {
	if n > limit {
		return "more than " + strconv.Itoa(limit)
	}
	return strconv.Itoa(n)
}

// registerSagaActions adds the saga actions: retry a failed compensation,
// resolve a saga by hand with a note, and both for every failed saga of a
// name.
func (c *Console) registerSagaActions() {
	operator := func() (*sagaSource, error) {
		src, err := c.sagaSource()
		if err != nil {
			return nil, err
		}
		if src.op == nil {
			return nil, &requestError{http.StatusForbidden, gateway.CodeForbidden, "the sagas are registered without their orchestrator: they can be shown, not acted on"}
		}
		return src, nil
	}
	// failedOne prepares an action on the saga the form's id names, which
	// must have failed to compensate.
	failedOne := func(act func(src *sagaSource, rec *saga.Record, form url.Values) (prepared, error)) func(context.Context, url.Values) (prepared, error) {
		return func(ctx context.Context, form url.Values) (prepared, error) {
			src, err := operator()
			if err != nil {
				return prepared{}, err
			}
			id, err := required(form, "id")
			if err != nil {
				return prepared{}, err
			}
			rec, err := src.store.Get(ctx, id)
			if errors.Is(err, saga.ErrNotFound) {
				return prepared{}, notFound("no saga %q", id)
			}
			if err != nil {
				return prepared{}, err
			}
			if rec.Status != saga.StatusCompensationFailed {
				return prepared{}, wrongStatus(fmt.Errorf("saga %s is %s: %w", id, rec.Status, saga.ErrWrongStatus))
			}
			return act(src, rec, form)
		}
	}
	c.addAction("saga-retry", action{
		title: "Retry compensation",
		prepare: failedOne(func(src *sagaSource, rec *saga.Record, _ url.Values) (prepared, error) {
			return prepared{
				what: "compensate saga " + rec.ID + " (" + rec.Name + ") again, with every compensation's retry budget renewed",
				do:   func(ctx context.Context) (ActionResult, error) { return retryOne(ctx, src, rec.ID) },
			}, nil
		}),
	})
	c.addAction("saga-resolve", action{
		title: "Resolve saga",
		prepare: failedOne(func(src *sagaSource, rec *saga.Record, form url.Values) (prepared, error) {
			note, err := required(form, "note")
			if err != nil {
				return prepared{}, err
			}
			return prepared{
				what: "close saga " + rec.ID + " (" + rec.Name + ") as repaired by hand, noting " + strconv.Quote(note),
				do: func(ctx context.Context) (ActionResult, error) {
					if err := src.op.Resolve(ctx, rec.ID, note); err != nil {
						return ActionResult{}, wrongStatus(err)
					}
					return ActionResult{Done: 1, Message: "saga " + rec.ID + " is resolved"}, nil
				},
			}, nil
		}),
	})
	// allFailed prepares a batch action on the failed sagas of the form's
	// name. It walks them oldest first, by the store's cursor: a saga that
	// fails again keeps its place behind the cursor, so each is tried once.
	allFailed := func(act func(src *sagaSource, what string, form url.Values, each walkFailed) (prepared, error)) func(context.Context, url.Values) (prepared, error) {
		return func(ctx context.Context, form url.Values) (prepared, error) {
			src, err := operator()
			if err != nil {
				return prepared{}, err
			}
			name, err := required(form, "name")
			if err != nil {
				return prepared{}, err
			}
			failed := saga.Filter{Statuses: []saga.Status{saga.StatusCompensationFailed}, Name: name}
			count := failed
			count.Limit = countCap + 1
			recs, err := src.store.List(ctx, count)
			if err != nil {
				return prepared{}, err
			}
			what := capped(len(recs), countCap) + " failed sagas named " + strconv.Quote(name)
			each := func(ctx context.Context, fn func(*saga.Record) error) (int, error) {
				f := failed
				f.Limit = 100
				n := 0
				for {
					page, err := src.store.List(ctx, f)
					if err != nil {
						return n, err
					}
					for _, rec := range page {
						if err := ctx.Err(); err != nil {
							return n, err
						}
						if err := fn(rec); err != nil {
							return n, err
						}
						n++
					}
					if len(page) < f.Limit {
						return n, nil
					}
					cur := page[len(page)-1].Cursor()
					f.After = &cur
				}
			}
			return act(src, what, form, each)
		}
	}
	c.addAction("saga-retry-all", action{
		title: "Retry every failed compensation",
		prepare: allFailed(func(src *sagaSource, what string, _ url.Values, each walkFailed) (prepared, error) {
			return prepared{
				what: "compensate again the " + what,
				do: func(ctx context.Context) (ActionResult, error) {
					compensated, again := 0, 0
					tried, err := each(ctx, func(rec *saga.Record) error {
						switch err := src.op.RetryCompensation(ctx, rec.ID); {
						case err == nil:
							compensated++
						case errors.As(err, new(*saga.CompensationFailedError)):
							again++
						default:
							return err
						}
						return nil
					})
					if err != nil {
						return ActionResult{}, fmt.Errorf("after %d sagas: %w", tried, err)
					}
					return ActionResult{Done: compensated, Message: fmt.Sprintf("%d compensated, %d failed again", compensated, again)}, nil
				},
			}, nil
		}),
	})
	c.addAction("saga-resolve-all", action{
		title: "Resolve every failed saga",
		prepare: allFailed(func(src *sagaSource, what string, form url.Values, each walkFailed) (prepared, error) {
			note, err := required(form, "note")
			if err != nil {
				return prepared{}, err
			}
			return prepared{
				what: "close as repaired by hand the " + what + ", noting " + strconv.Quote(note),
				do: func(ctx context.Context) (ActionResult, error) {
					n, err := each(ctx, func(rec *saga.Record) error { return src.op.Resolve(ctx, rec.ID, note) })
					if err != nil {
						return ActionResult{}, fmt.Errorf("after %d sagas: %w", n, err)
					}
					return ActionResult{Done: n, Message: plural(n, "saga", "sagas") + " resolved"}, nil
				},
			}, nil
		}),
	})
}

// walkFailed calls fn on each saga a batch action covers, and returns how
// many it called it on.
type walkFailed func(ctx context.Context, fn func(*saga.Record) error) (int, error)

// retryOne retries the compensation of saga id and says how it ended: a
// compensation that fails again is an outcome, not an error of the action.
func retryOne(ctx context.Context, src *sagaSource, id string) (ActionResult, error) {
	err := src.op.RetryCompensation(ctx, id)
	if cf, ok := errors.AsType[*saga.CompensationFailedError](err); ok {
		return ActionResult{Done: 0, Message: "saga " + id + " failed to compensate again: " + cf.Error()}, nil
	}
	if err != nil {
		return ActionResult{}, wrongStatus(err)
	}
	return ActionResult{Done: 1, Message: "saga " + id + " is compensated"}, nil
}

// wrongStatus answers a saga that left compensation_failed between the
// check and the action (another operator, another console) with 409.
func wrongStatus(err error) error {
	if errors.Is(err, saga.ErrWrongStatus) {
		return &requestError{http.StatusConflict, "conflict", "the saga is no longer compensation_failed: " + err.Error()}
	}
	return err
}
