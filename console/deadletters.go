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
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/gateway"
)

type deadLetterSource struct {
	store *dlq.Store
	pub   eventbus.Publisher // nil: shown, not replayed or discarded

	mu     sync.Mutex
	counts []Sample // readings of the unreplayed count, oldest first
}

// AddDeadLetters shows the dead letters of store: a list filtered by
// group, type pattern and ID prefix, paged by the store's cursor, each
// entry with its message, failure reason and the history of its replays,
// and a sparkline of how many wait. With pub (the bus replays go back to),
// an operator may replay or discard entries, one at a time or every entry
// of a group or type; a nil pub shows them only. A later call replaces
// the store.
func (c *Console) AddDeadLetters(store *dlq.Store, pub eventbus.Publisher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = &deadLetterSource{store: store, pub: pub}
}

func (c *Console) deadLetterSource() (*deadLetterSource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead == nil {
		return nil, notFound("no dead-letter store is registered with this console")
	}
	return c.dead, nil
}

// read counts the entries not yet replayed, up to countCap+1 so that it
// costs the same however many wait, and records the reading.
func (s *deadLetterSource) read(ctx context.Context) (int64, error) {
	n, err := s.store.CountUpTo(ctx, dlq.Filter{}, countCap+1)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.counts = appendSample(s.counts, Sample{time.Now(), n}, samples)
	s.mu.Unlock()
	return n, nil
}

func (s *deadLetterSource) readings() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.counts)
}

// DeadLetterSummary is one entry in the list.
type DeadLetterSummary struct {
	ID           string    `json:"id"`
	OriginalID   string    `json:"original_id"`
	OriginalType string    `json:"original_type"`
	Group        string    `json:"group"`
	Handler      string    `json:"handler,omitempty"`
	Reason       string    `json:"reason"`
	Attempts     int       `json:"attempts"`
	ParkedAt     time.Time `json:"parked_at"`
	Replays      int       `json:"replays"`
	LastReplayAt time.Time `json:"last_replay_at,omitzero"`
}

func summarizeEntry(e dlq.Entry) DeadLetterSummary {
	return DeadLetterSummary{ID: e.ID, OriginalID: e.OriginalID, OriginalType: e.OriginalType, Group: e.Group,
		Handler: e.Handler, Reason: e.Reason, Attempts: e.Attempts, ParkedAt: e.ParkedAt, Replays: e.Replays,
		LastReplayAt: e.LastReplayAt}
}

// DeadLetterQuery is the list's filter: the query parameters group, type
// (a pattern), q (an ID or original ID prefix), replayed ("1" includes
// entries already replayed), limit and after (the page's cursor).
type DeadLetterQuery struct {
	Group    string `json:"group,omitempty"`
	Type     string `json:"type,omitempty"`
	Q        string `json:"q,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
	Limit    int    `json:"limit"`
	After    string `json:"after,omitempty"`
}

// DeadLettersView is the dead letters page.
type DeadLettersView struct {
	Filter DeadLetterQuery `json:"filter"`
	// Entries is one page, newest first.
	Entries []DeadLetterSummary `json:"entries"`
	// Next is the query string of the next page; "" on the last.
	Next string `json:"next,omitempty"`
	// Waiting is how many entries wait, not yet replayed, counted up to
	// 1,001 (more than 1,000 reads as 1,001); Groups the same per group,
	// left out when more than 1,000 wait.
	Waiting int64            `json:"waiting"`
	Groups  []dlq.GroupCount `json:"groups"`
	// Counts is the recent readings of Waiting, oldest first.
	Counts []Sample `json:"counts"`
	// CanAct is whether the operator may replay and discard these.
	CanAct bool `json:"can_act"`
}

// filter returns the query as a dlq.Filter, and the values that select
// the same entries, for links and batch actions.
func (q DeadLetterQuery) filter() (dlq.Filter, error) {
	f := dlq.Filter{Group: q.Group, Type: q.Type, Search: q.Q, Replayed: q.Replayed, Newest: true, Limit: q.Limit + 1}
	if q.After != "" {
		var cur dlq.Cursor
		if err := cur.UnmarshalText([]byte(q.After)); err != nil {
			return f, badRequest("after is not a cursor of this list")
		}
		f.After = &cur
	}
	return f, nil
}

func (q DeadLetterQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"group": q.Group, "type": q.Type, "q": q.Q} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if q.Replayed {
		v.Set("replayed", "1")
	}
	return v
}

func parseDeadLetterQuery(q url.Values) (DeadLetterQuery, error) {
	dq := DeadLetterQuery{Group: q.Get("group"), Type: q.Get("type"), Q: q.Get("q"), Replayed: q.Get("replayed") == "1",
		Limit: pageSize, After: q.Get("after")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return dq, badRequest("limit must be 1 to %d", maxPageSize)
		}
		dq.Limit = n
	}
	return dq, nil
}

// invalidFilter turns the store's ErrInvalidFilter into a 400.
func invalidFilter(err error) error {
	if errors.Is(err, dlq.ErrInvalidFilter) {
		return badRequest("%s", err.Error())
	}
	return err
}

func (c *Console) deadLettersList(r *http.Request) (any, error) {
	src, err := c.deadLetterSource()
	if err != nil {
		return nil, err
	}
	dq, err := parseDeadLetterQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	f, err := dq.filter()
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	entries, err := src.store.List(ctx, f)
	if err != nil {
		return nil, invalidFilter(err)
	}
	op, _ := OperatorFromContext(ctx)
	v := DeadLettersView{Filter: dq, Entries: make([]DeadLetterSummary, 0, min(len(entries), dq.Limit)),
		CanAct: src.pub != nil && c.canAct(op)}
	for i, e := range entries {
		if i == dq.Limit {
			cur, _ := entries[i-1].Cursor().MarshalText() // cannot fail
			next := dq.values()
			if dq.Limit != pageSize {
				next.Set("limit", strconv.Itoa(dq.Limit))
			}
			next.Set("after", string(cur))
			v.Next = next.Encode()
			break
		}
		v.Entries = append(v.Entries, summarizeEntry(e))
	}
	if v.Waiting, err = src.read(ctx); err != nil {
		return nil, err
	}
	// The count per group reads every waiting entry: with more than
	// countCap waiting the page leaves it out, and the group filter stays.
	if v.Waiting <= countCap {
		if v.Groups, err = src.store.Groups(ctx); err != nil {
			return nil, err
		}
	}
	v.Counts = src.readings()
	return v, nil
}

// DeadLetterView is one entry, on its own page.
type DeadLetterView struct {
	DeadLetterSummary
	// Type, Source, Subject and Time are the parked message's own.
	Type    string    `json:"type"`
	Source  string    `json:"source,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// Data is the message's payload, indented when it is JSON.
	Data string `json:"data"`
	// Metadata is the message's metadata, dead-letter fields included.
	Metadata map[string]string `json:"metadata,omitempty"`
	// History is every failure of the original message, oldest first,
	// each with its replays: this entry and those before and after it.
	History []DeadLetterSummary `json:"history"`
	CanAct  bool                `json:"can_act"`
}

func (c *Console) deadLetterDetail(r *http.Request) (any, error) {
	src, err := c.deadLetterSource()
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	e, err := src.store.Get(ctx, id)
	if errors.Is(err, dlq.ErrNotFound) {
		return nil, notFound("no dead letter %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("console: get dead letter %s: %w", id, err)
	}
	op, _ := OperatorFromContext(ctx)
	v := DeadLetterView{DeadLetterSummary: summarizeEntry(e), History: []DeadLetterSummary{},
		CanAct: src.pub != nil && c.canAct(op)}
	if m := e.Message; m != nil {
		v.Type, v.Source, v.Subject, v.Time, v.Metadata = m.Type, m.Source, m.Subject, m.Time, m.Metadata
		var data bytes.Buffer
		if json.Indent(&data, m.Data, "", "  ") == nil {
			v.Data = data.String()
		} else {
			v.Data = string(m.Data)
		}
	}
	hist, err := src.store.List(ctx, dlq.Filter{OriginalID: e.OriginalID, Replayed: true, Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, h := range hist {
		v.History = append(v.History, summarizeEntry(h))
	}
	return v, nil
}

// deadLettersItem is the dead letters' line on the overview.
func (c *Console) deadLettersItem(ctx context.Context) (OverviewItem, bool) {
	c.mu.Lock()
	src := c.dead
	c.mu.Unlock()
	if src == nil {
		return OverviewItem{}, false
	}
	it := OverviewItem{Area: "deadletters", Title: "Dead letters"}
	n, err := src.read(ctx)
	if err != nil {
		it.Error = err.Error()
		return it, true
	}
	it.Total, it.Attention = n, n
	it.Summary = capped(int(n), countCap) + " messages waiting to be replayed or discarded"
	return it, true
}

// registerDeadLetterActions adds replay and discard, of one entry (id)
// or of every entry of a group or type pattern.
func (c *Console) registerDeadLetterActions() {
	acting := func() (*deadLetterSource, error) {
		src, err := c.deadLetterSource()
		if err != nil {
			return nil, err
		}
		if src.pub == nil {
			return nil, &requestError{http.StatusForbidden, gateway.CodeForbidden, "the dead letters are registered without a publisher: they can be shown, not replayed"}
		}
		return src, nil
	}
	// one prepares an action on the entry the form's id names.
	one := func(act func(src *deadLetterSource, e dlq.Entry) prepared) func(context.Context, url.Values) (prepared, error) {
		return func(ctx context.Context, form url.Values) (prepared, error) {
			src, err := acting()
			if err != nil {
				return prepared{}, err
			}
			id, err := required(form, "id")
			if err != nil {
				return prepared{}, err
			}
			e, err := src.store.Get(ctx, id)
			if errors.Is(err, dlq.ErrNotFound) {
				return prepared{}, notFound("no dead letter %q", id)
			}
			if err != nil {
				return prepared{}, err
			}
			return act(src, e), nil
		}
	}
	// matching prepares a batch action on the entries of a group or a type
	// pattern, at least one, so that "everything" is never one click away.
	matching := func(act func(src *deadLetterSource, f dlq.Filter, what string) prepared) func(context.Context, url.Values) (prepared, error) {
		return func(ctx context.Context, form url.Values) (prepared, error) {
			src, err := acting()
			if err != nil {
				return prepared{}, err
			}
			f := dlq.Filter{Group: form.Get("group"), Type: form.Get("type")}
			if f.Group == "" && f.Type == "" {
				return prepared{}, badRequest("a group or a type is required")
			}
			n, err := src.store.CountUpTo(ctx, f, countCap+1)
			if err != nil {
				return prepared{}, invalidFilter(err)
			}
			what := capped(int(n), countCap) + " dead letters not yet replayed"
			if f.Group != "" {
				what += " of group " + strconv.Quote(f.Group)
			}
			if f.Type != "" {
				what += " of type " + strconv.Quote(f.Type)
			}
			return act(src, f, what), nil
		}
	}
	c.addAction("deadletter-replay", action{
		title: "Replay dead letter",
		prepare: one(func(src *deadLetterSource, e dlq.Entry) prepared {
			return prepared{
				what: "publish message " + e.OriginalID + " (" + e.OriginalType + ") again to group " + e.Group,
				do: func(ctx context.Context) (ActionResult, error) {
					if err := src.store.Replay(ctx, src.pub, e.ID); err != nil {
						return ActionResult{}, err
					}
					return ActionResult{Done: 1, Message: "message " + e.OriginalID + " is published again"}, nil
				},
			}
		}),
	})
	c.addAction("deadletter-discard", action{
		title: "Discard dead letter",
		prepare: one(func(src *deadLetterSource, e dlq.Entry) prepared {
			return prepared{
				what: "delete dead letter " + e.ID + " (message " + e.OriginalID + ") for good",
				do: func(ctx context.Context) (ActionResult, error) {
					n, err := src.store.Delete(ctx, e.ID)
					if err != nil {
						return ActionResult{}, err
					}
					return ActionResult{Done: int(n), Message: "dead letter " + e.ID + " is deleted"}, nil
				},
			}
		}),
	})
	c.addAction("deadletter-replay-all", action{
		title: "Replay dead letters",
		prepare: matching(func(src *deadLetterSource, f dlq.Filter, what string) prepared {
			return prepared{
				what: "publish again the " + what,
				do: func(ctx context.Context) (ActionResult, error) {
					n, err := src.store.ReplayMatching(ctx, src.pub, f)
					if err != nil {
						return ActionResult{}, fmt.Errorf("after %d replays: %w", n, err)
					}
					return ActionResult{Done: n, Message: plural(n, "message", "messages") + " published again"}, nil
				},
			}
		}),
	})
	c.addAction("deadletter-discard-all", action{
		title: "Discard dead letters",
		prepare: matching(func(src *deadLetterSource, f dlq.Filter, what string) prepared {
			return prepared{
				what: "delete for good the " + what,
				do: func(ctx context.Context) (ActionResult, error) {
					n, err := src.store.DeleteMatching(ctx, f)
					if err != nil {
						return ActionResult{}, fmt.Errorf("after %d deletions: %w", n, err)
					}
					return ActionResult{Done: int(n), Message: plural(int(n), "dead letter", "dead letters") + " deleted"}, nil
				},
			}
		}),
	})
}
