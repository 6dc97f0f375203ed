package console

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// OverviewItem is one building block's line on the overview.
type OverviewItem struct {
	// Area names the view it links to: "breakers", "discovery", ...
	Area string `json:"area"`
	// Title is the area's title.
	Title string `json:"title"`
	// Total is how many things the area holds (breakers, services,
	// pending events, ...); Attention how many of them need a person.
	Total     int64 `json:"total"`
	Attention int64 `json:"attention"`
	// Summary says it in words.
	Summary string `json:"summary"`
	// Error is why the area could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// OverviewView is the overview page: one item per area that has something
// registered.
type OverviewView struct {
	Items []OverviewItem `json:"items"`
	// Attention is the sum of the items' Attention.
	Attention int64 `json:"attention"`
}

// overviewPart gives one area's item; ok is false when nothing of the area
// is registered.
type overviewPart func(ctx context.Context) (item OverviewItem, ok bool)

func (c *Console) overview(r *http.Request) (any, error) {
	ctx := r.Context()
	parts := []overviewPart{c.breakersItem, c.discoveryItem, c.outboxItem, c.sagasItem, c.deadLettersItem}
	out := OverviewView{Items: []OverviewItem{}}
	for _, p := range parts {
		if it, ok := p(ctx); ok {
			out.Items = append(out.Items, it)
			out.Attention += it.Attention
		}
	}
	return out, nil
}

func (c *Console) breakersItem(context.Context) (OverviewItem, bool) {
	c.mu.Lock()
	n := len(c.breakers)
	c.mu.Unlock()
	if n == 0 {
		return OverviewItem{}, false
	}
	v := c.readBreakers()
	return OverviewItem{Area: "breakers", Title: "Breakers", Total: int64(len(v.Breakers)), Attention: int64(v.Open),
		Summary: fmt.Sprintf("%d of %s not closed", v.Open, plural(len(v.Breakers), "breaker", "breakers"))}, true
}

func (c *Console) discoveryItem(context.Context) (OverviewItem, bool) {
	c.mu.Lock()
	n := len(c.services)
	c.mu.Unlock()
	if n == 0 {
		return OverviewItem{}, false
	}
	v := c.readDiscovery()
	return OverviewItem{Area: "discovery", Title: "Discovery", Total: int64(len(v.Services)), Attention: int64(v.Attention),
		Summary: fmt.Sprintf("%d of %s stale, ejecting or empty", v.Attention, plural(len(v.Services), "service", "services"))}, true
}

func (c *Console) outboxItem(ctx context.Context) (OverviewItem, bool) {
	c.mu.Lock()
	n := len(c.outboxes)
	c.mu.Unlock()
	if n == 0 {
		return OverviewItem{}, false
	}
	v := c.readOutboxes(ctx)
	it := OverviewItem{Area: "outbox", Title: "Outbox"}
	var oldest time.Time
	for _, o := range v.Outboxes {
		it.Total += o.Pending
		if o.ReadError != "" {
			it.Error = o.ReadError
		}
		if !o.OldestAt.IsZero() && (oldest.IsZero() || o.OldestAt.Before(oldest)) {
			oldest = o.OldestAt
		}
		// An event that waited over a minute, or that the relay failed
		// on, is behind.
		if o.Pending > 0 && (time.Since(o.OldestAt) > time.Minute || o.OldestAttempts > 0) {
			it.Attention++
		}
	}
	it.Summary = plural(int(it.Total), "event", "events") + " waiting"
	if !oldest.IsZero() {
		it.Summary += ", the oldest since " + ago(oldest)
	}
	return it, true
}
