package platform

import (
	"net/http"
	"sync"
)

// FaultPath is where a service that injects faults serves its switches:
// GET reads them, PUT sets them, both for the admin role only.
const FaultPath = "/admin/faults"

// Faults holds a service's fault injection settings F, read on every call
// the faults apply to and set by an administrator through FaultPath. The
// zero value injects nothing (F's zero value). It is safe for concurrent
// use.
type Faults[F any] struct {
	mu sync.Mutex
	f  F
}

// Get returns the current settings.
func (s *Faults[F]) Get() F {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// Set replaces the settings.
func (s *Faults[F]) Set(f F) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
}

// Serve registers GET and PUT FaultPath on srv, for the admin role only
// (the gateway passes the role of a verified token only). A PUT body is
// the whole of F, strictly read; check, when not nil, refuses it with
// its message as a 400 (return "" to accept). Both answer the settings in
// force.
func (s *Faults[F]) Serve(srv *Server, check func(F) string) {
	srv.Handle("GET "+FaultPath, RequireRole(RoleAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.Get())
	})))
	srv.Handle("PUT "+FaultPath, RequireRole(RoleAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f F
		if !ReadJSON(w, r, &f) {
			return
		}
		if check != nil {
			if msg := check(f); msg != "" {
				WriteError(w, r, http.StatusBadRequest, "bad_request", msg)
				return
			}
		}
		s.Set(f)
		WriteJSON(w, http.StatusOK, f)
	})))
}
