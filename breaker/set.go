package breaker

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Set is a keyed set of breakers, one per host, endpoint or instance, made
// on first use with the same options. It holds at most a fixed number of
// keys: past that, making a breaker for a new key evicts one not used
// recently (the CLOCK approximation of least recently used), so an
// unbounded key space (user-supplied hosts, say) cannot exhaust memory; an
// [EvictionObserver] hears of it. A Set is safe for concurrent use; looking
// up an existing key takes no lock.
type Set struct {
	name string
	cfg  config
	max  int

	m sync.Map // key → *setEntry

	mu   sync.Mutex  // guards ring and hand; serialises inserts
	ring []*setEntry // the CLOCK ring, at most max entries
	hand int
}

type setEntry struct {
	key  string
	b    *Breaker
	used atomic.Bool // looked up since the clock hand last passed
}

// NewSet returns an empty set of at most maxKeys breakers; the breaker for
// key is named name+"/"+key and made with opts. It returns an error
// wrapping [ErrInvalidOption] if maxKeys < 1 or an option is invalid.
func NewSet(name string, maxKeys int, opts ...Option) (*Set, error) {
	if maxKeys < 1 {
		return nil, fmt.Errorf("breaker: new set %q: %w: max keys %d < 1", name, ErrInvalidOption, maxKeys)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("breaker: new set %q: %w", name, err)
	}
	return &Set{name: name, cfg: cfg, max: maxKeys}, nil
}

// Get returns the breaker for key, making it (and perhaps evicting another
// key's) on first use.
func (s *Set) Get(key string) *Breaker {
	if v, ok := s.m.Load(key); ok {
		e := v.(*setEntry)
		if !e.used.Load() {
			e.used.Store(true)
		}
		return e.b
	}
	return s.insert(key)
}

func (s *Set) insert(key string) *Breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m.Load(key); ok {
		return v.(*setEntry).b
	}
	b := newBreaker(s.name+"/"+key, s.cfg)
	e := &setEntry{key: key, b: b}
	e.used.Store(true)
	if len(s.ring) < s.max {
		s.ring = append(s.ring, e)
	} else {
		for {
			old := s.ring[s.hand]
			if old.used.Load() {
				old.used.Store(false)
				s.hand = (s.hand + 1) % s.max
				continue
			}
			s.m.Delete(old.key)
			if o, ok := old.b.obs.(EvictionObserver); ok {
				o.Evicted()
			}
			s.ring[s.hand] = e
			s.hand = (s.hand + 1) % s.max
			break
		}
	}
	s.m.Store(key, e)
	return b
}

// Len returns the number of keys the set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ring)
}

// Breakers returns the breakers the set holds, in no particular order,
// without counting as a use of any: looking at a set (an operator's
// console, say) neither keeps a key from eviction nor makes a breaker.
func (s *Set) Breakers() []*Breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Breaker, len(s.ring))
	for i, e := range s.ring {
		out[i] = e.b
	}
	return out
}

// Keys returns the keys the set holds, in no particular order.
func (s *Set) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, len(s.ring))
	for i, e := range s.ring {
		keys[i] = e.key
	}
	return keys
}
