package saga

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemoryStore is a [Store] that keeps records in memory. It survives no
// process restart, so it suits tests, benchmarks and sagas whose loss on a
// crash is acceptable. The zero value is ready to use, and it is safe for
// concurrent use.
type MemoryStore struct {
	// DropFinished removes a record as soon as it is Completed or
	// Compensated, so that a long-lived process's memory stays bounded.
	// Records that need a human (CompensationFailed) are kept. The zero
	// value keeps every record; then the store grows with every saga, and
	// WithID refuses the ID of a finished saga as well as of a running one.
	DropFinished bool

	mu      sync.Mutex
	records map[string]*memRecord
	seq     int64
	free    []*memRecord // dropped records, reused with their buffers by Create
}

// maxFree bounds the dropped records kept for reuse.
const maxFree = 64

type memRecord struct {
	Record
	seq int64 // creation order, for List
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Create implements [Store].
func (m *MemoryStore) Create(ctx context.Context, r *Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saga: memory store: create: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.records[r.ID]; ok {
		return fmt.Errorf("saga: memory store: create %q: %w", r.ID, ErrDuplicate)
	}
	if m.records == nil {
		m.records = make(map[string]*memRecord)
	}
	m.seq++
	r.Version = 1
	var stored *memRecord
	if n := len(m.free); n > 0 {
		stored, m.free = m.free[n-1], m.free[:n-1]
	} else {
		stored = new(memRecord)
	}
	state, steps := stored.State, stored.Steps
	stored.Record, stored.seq = *r, m.seq
	stored.State = append(state[:0], r.State...)
	stored.Steps = append(steps[:0], r.Steps...)
	m.records[r.ID] = stored
	return nil
}

// Update implements [Store]. It copies r into the stored record's own
// buffers, so a steady stream of updates does not allocate.
func (m *MemoryStore) Update(ctx context.Context, r *Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saga: memory store: update: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.records[r.ID]
	if !ok {
		return fmt.Errorf("saga: memory store: update %q: %w", r.ID, ErrNotFound)
	}
	if stored.Version != r.Version {
		return fmt.Errorf("saga: memory store: update %q at version %d (stored %d): %w", r.ID, r.Version, stored.Version, ErrConflict)
	}
	if m.DropFinished && (r.Status == StatusCompleted || r.Status == StatusCompensated) {
		delete(m.records, r.ID)
		if len(m.free) < maxFree {
			m.free = append(m.free, stored)
		}
		r.Version++
		return nil
	}
	state, steps := stored.State, stored.Steps
	stored.Record = *r
	stored.State = append(state[:0], r.State...)
	stored.Steps = append(steps[:0], r.Steps...)
	stored.Version++
	r.Version++
	return nil
}

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, id string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saga: memory store: get: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.records[id]
	if !ok {
		return nil, fmt.Errorf("saga: memory store: get %q: %w", id, ErrNotFound)
	}
	return stored.Clone(), nil
}

// List implements [Store].
func (m *MemoryStore) List(ctx context.Context, f Filter) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saga: memory store: list: %w", err)
	}
	m.mu.Lock()
	matched := make([]*memRecord, 0)
	for _, r := range m.records {
		if len(f.Statuses) == 0 || slices.Contains(f.Statuses, r.Status) {
			matched = append(matched, r)
		}
	}
	slices.SortFunc(matched, func(a, b *memRecord) int { return int(a.seq - b.seq) })
	if f.Limit > 0 && len(matched) > f.Limit {
		matched = matched[:f.Limit]
	}
	out := make([]*Record, len(matched))
	for i, r := range matched {
		out[i] = r.Clone()
	}
	m.mu.Unlock()
	return out, nil
}
