package inbox

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in process memory: processed keys are kept for a TTL,
// then forgotten. It is safe for concurrent use. Its record is lost when
// the process exits and is not shared between instances of a group.
type Memory struct {
	ttl time.Duration

	mu       sync.Mutex
	entries  map[string]entry
	expiries []expiry // processed keys in commit order, hence expiry order
}

type entry struct {
	processed bool
	expires   time.Time
}

type expiry struct {
	key     string
	expires time.Time
}

// NewMemory returns a store that remembers processed keys for ttl, which
// should exceed the longest time a duplicate can arrive after the original
// (the broker's redelivery horizon). ttl <= 0 means an hour.
func NewMemory(ttl time.Duration) *Memory {
	if ttl <= 0 {
		ttl = time.Hour
	}
	return &Memory{ttl: ttl, entries: make(map[string]entry)}
}

// Begin claims key unless it is processed (and not expired) or claimed.
func (m *Memory) Begin(_ context.Context, key string) (Status, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if e, ok := m.entries[key]; ok {
		if !e.processed {
			return InFlight, nil
		}
		if now.Before(e.expires) {
			return Processed, nil
		}
	}
	m.entries[key] = entry{}
	return Claimed, nil
}

// Commit marks key processed until now plus the TTL.
func (m *Memory) Commit(_ context.Context, key string) error {
	exp := time.Now().Add(m.ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = entry{processed: true, expires: exp}
	m.expiries = append(m.expiries, expiry{key: key, expires: exp})
	return nil
}

// Abort releases a claim on key.
func (m *Memory) Abort(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok && !e.processed {
		delete(m.entries, key)
	}
	return nil
}

// Len returns how many keys the store holds, processed or claimed.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(time.Now())
	return len(m.entries)
}

// expire forgets the processed keys whose TTL ended: they sit at the front
// of expiries, so each key costs O(1) once.
func (m *Memory) expire(now time.Time) {
	i := 0
	for ; i < len(m.expiries) && !now.Before(m.expiries[i].expires); i++ {
		x := m.expiries[i]
		// The key may have been committed again later with a later expiry.
		if e, ok := m.entries[x.key]; ok && e.processed && e.expires.Equal(x.expires) {
			delete(m.entries, x.key)
		}
	}
	clear(m.expiries[:i]) // drop the keys; append reallocates the array later
	m.expiries = m.expiries[i:]
}
