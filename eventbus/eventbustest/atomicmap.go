package eventbustest

import "sync"

// atomicMap is a set of strings safe for concurrent use.
type atomicMap struct {
	mu  sync.Mutex
	set map[string]bool
}

// add adds k and reports whether it was new.
func (m *atomicMap) add(k string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set == nil {
		m.set = make(map[string]bool)
	}
	if m.set[k] {
		return false
	}
	m.set[k] = true
	return true
}

// has reports whether k was added.
func (m *atomicMap) has(k string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set[k]
}
