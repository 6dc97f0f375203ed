package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// shop is a two-step saga whose second step always fails, so that the
// first is compensated; its refund fails while refundsDown is set.
type shop struct {
	refundsDown atomic.Bool
	def         *saga.Saga[map[string]string]
	orch        *saga.Orchestrator
	store       *saga.MemoryStore
}

func newShop(t *testing.T) *shop {
	t.Helper()
	s := &shop{store: saga.NewMemoryStore()}
	once := retry.Policy{MaxAttempts: 1}
	def, err := saga.New("checkout",
		saga.Step[map[string]string]{
			Name:    "charge",
			Retry:   once,
			Execute: func(context.Context, *map[string]string) error { return nil },
			Compensate: func(context.Context, *map[string]string) error {
				if s.refundsDown.Load() {
					return errors.New("refunds are down")
				}
				return nil
			},
			CompensateRetry: &once,
		},
		saga.Step[map[string]string]{
			Name:    "ship",
			Retry:   once,
			Execute: func(context.Context, *map[string]string) error { return saga.NotApplied(errors.New("no courier")) },
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	orch, err := saga.NewOrchestrator(s.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orch.Close(context.Background()) })
	if err := orch.Register(def); err != nil {
		t.Fatal(err)
	}
	s.def, s.orch = def, orch
	return s
}

// run runs saga id to its end.
func (s *shop) run(t *testing.T, id string) {
	t.Helper()
	_, err := s.def.Run(t.Context(), s.orch, map[string]string{"order": id}, saga.WithID(id))
	if err == nil {
		t.Fatalf("saga %s: no error, want it compensated or failed", id)
	}
}

func TestSagasView(t *testing.T) {
	s := newShop(t)
	s.refundsDown.Store(true)
	for i := range 3 {
		s.run(t, fmt.Sprintf("o-failed-%d", i))
	}
	s.refundsDown.Store(false)
	for i := range 120 {
		s.run(t, fmt.Sprintf("o-%03d", i))
	}
	c := newConsole(t)
	c.AddSagas(s.store, s.orch)
	cl := client{t, c, "ada"}

	// Paging: 123 sagas, newest first, pages of 50, each saga once.
	seen := map[string]bool{}
	next := "limit=50"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 50 for 123 sagas")
		}
		var v console.SagasView
		cl.json("/console/api/sagas?"+next, &v)
		for _, sg := range v.Sagas {
			if seen[sg.ID] {
				t.Fatalf("saga %s listed twice", sg.ID)
			}
			seen[sg.ID] = true
		}
		next = v.Next
	}
	if len(seen) != 123 {
		t.Fatalf("%d sagas listed, want 123", len(seen))
	}

	var failed console.SagasView
	cl.json("/console/api/sagas?status=compensation_failed&name=checkout", &failed)
	if len(failed.Sagas) != 3 || failed.Sagas[0].Step != "charge" || failed.Next != "" {
		t.Fatalf("failed compensations: %+v", failed)
	}
	var prefixed console.SagasView
	cl.json("/console/api/sagas?q=o-00", &prefixed)
	if len(prefixed.Sagas) != 10 {
		t.Fatalf("q=o-00: %d sagas, want 10", len(prefixed.Sagas))
	}
	for _, bad := range []string{"status=lost", "older=soon", "limit=0", "after=nonsense", "q=%00"} {
		if w := cl.do(http.MethodGet, "/console/api/sagas?"+bad, nil); w.Code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", bad, w.Code)
		}
	}

	// One saga's page: its timeline in time order, the compensation failed.
	var one console.SagaView
	cl.json("/console/api/sagas/o-failed-0", &one)
	if one.Status != "compensation_failed" || !one.CanRetry || len(one.Timeline) != 3 {
		t.Fatalf("o-failed-0: %+v", one)
	}
	kinds := []string{}
	for _, e := range one.Timeline {
		kinds = append(kinds, e.Step+" "+e.Kind+" "+e.Outcome)
	}
	if got := strings.Join(kinds, ", "); got != "charge execute done, ship execute failed, charge compensate compensation_failed" {
		t.Fatalf("timeline: %s", got)
	}
	if !strings.Contains(one.State, `"order": "o-failed-0"`) {
		t.Fatalf("state: %s", one.State)
	}
	if w := cl.do(http.MethodGet, "/console/api/sagas/nobody", nil); w.Code != http.StatusNotFound {
		t.Fatalf("unknown saga: %d", w.Code)
	}
	page := cl.do(http.MethodGet, "/console/sagas/o-failed-0", nil).Body.String()
	for _, want := range []string{"refunds are down", "Retry compensation", "charge"} {
		if !strings.Contains(page, want) {
			t.Errorf("saga page lacks %q", want)
		}
	}

	// Retry one, resolve one by hand, then the rest by name.
	if res := cl.act("saga-retry", url.Values{"id": {"o-failed-0"}}); res.Done != 1 {
		t.Fatalf("retry: %+v", res)
	}
	if w := cl.do(http.MethodPost, "/console/api/actions/saga-retry", url.Values{"id": {"o-failed-0"}, "confirm": {"yes"}}); w.Code != http.StatusConflict {
		t.Fatalf("retrying a compensated saga: %d, want 409", w.Code)
	}
	if w := cl.do(http.MethodPost, "/console/api/actions/saga-resolve", url.Values{"id": {"o-failed-1"}, "confirm": {"yes"}}); w.Code != http.StatusBadRequest {
		t.Fatalf("resolve without a note: %d, want 400", w.Code)
	}
	if res := cl.act("saga-resolve", url.Values{"id": {"o-failed-1"}, "note": {"refunded by hand"}}); res.Done != 1 {
		t.Fatalf("resolve: %+v", res)
	}
	s.refundsDown.Store(true)
	s.run(t, "o-failed-3")
	s.run(t, "o-failed-4")
	s.refundsDown.Store(false)
	if res := cl.act("saga-retry-all", url.Values{"name": {"checkout"}}); res.Done != 3 {
		t.Fatalf("retry all: %+v, want the 3 failed compensated", res)
	}
	for id, want := range map[string]saga.Status{"o-failed-0": saga.StatusCompensated, "o-failed-1": saga.StatusResolved,
		"o-failed-2": saga.StatusCompensated, "o-failed-4": saga.StatusCompensated} {
		rec, err := s.store.Get(t.Context(), id)
		if err != nil || rec.Status != want {
			t.Errorf("%s: %v %v, want %s", id, rec.Status, err, want)
		}
	}
	var ov console.OverviewView
	cl.json("/console/api/", &ov)
	if len(ov.Items) != 1 || ov.Items[0].Area != "sagas" || ov.Items[0].Attention != 0 {
		t.Fatalf("overview: %+v", ov)
	}

	// Shown without their orchestrator, sagas cannot be acted on.
	ro := newConsole(t)
	ro.AddSagas(s.store, nil)
	if w := (client{t, ro, "ada"}).do(http.MethodPost, "/console/api/actions/saga-retry-all", url.Values{"name": {"checkout"}, "confirm": {"yes"}}); w.Code != http.StatusForbidden {
		t.Fatalf("no orchestrator: %d, want 403", w.Code)
	}
}

// Retrying a compensation that fails again is an answer, not an error.
func TestSagaRetryFailsAgain(t *testing.T) {
	s := newShop(t)
	s.refundsDown.Store(true)
	s.run(t, "o-1")
	c := newConsole(t)
	c.AddSagas(s.store, s.orch)
	w := client{t, c, "ada"}.do(http.MethodPost, "/console/api/actions/saga-retry", url.Values{"id": {"o-1"}, "confirm": {"yes"}})
	var res console.ActionResult
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil || res.Done != 0 || !strings.Contains(res.Message, "again") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// A step that failed in doubt and whose compensation failed shows each
// on its own line: the execution failed, without the compensation's
// error, and the compensation with it.
func TestSagaTimelineOfAStepInDoubt(t *testing.T) {
	store := saga.NewMemoryStore()
	once := retry.Policy{MaxAttempts: 1}
	def, err := saga.New("checkout", saga.Step[map[string]string]{
		Name:            "charge",
		Retry:           once,
		CompensateRetry: &once,
		Execute:         func(context.Context, *map[string]string) error { return errors.New("reply lost") },
		Compensate:      func(context.Context, *map[string]string) error { return errors.New("refunds are down") },
	})
	if err != nil {
		t.Fatal(err)
	}
	orch, err := saga.NewOrchestrator(store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orch.Close(context.Background()) })
	if err := orch.Register(def); err != nil {
		t.Fatal(err)
	}
	if _, err := def.Run(t.Context(), orch, map[string]string{}, saga.WithID("o-1")); !errors.Is(err, saga.ErrCompensationFailed) {
		t.Fatalf("Run: %v, want compensation failed", err)
	}
	c := newConsole(t)
	c.AddSagas(store, orch)
	var v console.SagaView
	client{t, c, "ada"}.json("/console/api/sagas/o-1", &v)
	if len(v.Timeline) != 2 {
		t.Fatalf("timeline %+v, want the execution and the compensation", v.Timeline)
	}
	if e := v.Timeline[0]; e.Kind != "execute" || e.Outcome != "failed" || e.Error != "" {
		t.Errorf("execution %+v, want failed without the compensation's error", e)
	}
	if e := v.Timeline[1]; e.Kind != "compensate" || e.Outcome != "compensation_failed" || e.Error != "refunds are down" {
		t.Errorf("compensation %+v, want failed with its error", e)
	}
}

// A waiting saga is listed under its status, and its page shows what it
// waits for and when its wait ends.
func TestSagaWaiting(t *testing.T) {
	store := saga.NewMemoryStore()
	def, err := saga.New("checkout", saga.Step[map[string]string]{
		Name:    "pay",
		Execute: func(context.Context, *map[string]string) error { return nil },
		Wait: &saga.Wait[map[string]string]{Signal: true, For: 15 * time.Minute,
			Key: func(s *map[string]string) string { return "pay-" + (*s)["order"] }},
	})
	if err != nil {
		t.Fatal(err)
	}
	orch, err := saga.NewOrchestrator(store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orch.Close(context.Background()) })
	if err := orch.Register(def); err != nil {
		t.Fatal(err)
	}
	if _, err := def.Run(t.Context(), orch, map[string]string{"order": "o-1"}, saga.WithID("o-1")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run: %v, want it waiting", err)
	}
	c := newConsole(t)
	c.AddSagas(store, orch)
	cl := client{t, c, "ada"}
	var list console.SagasView
	cl.json("/console/api/sagas?status=waiting", &list)
	if len(list.Sagas) != 1 || list.Sagas[0].Step != "pay" || !slices.Contains(list.Statuses, "waiting") {
		t.Fatalf("waiting sagas %+v, statuses %v", list.Sagas, list.Statuses)
	}
	var v console.SagaView
	cl.json("/console/api/sagas/o-1", &v)
	if v.WaitKey != "pay-o-1" || v.WakeAt.Sub(v.CreatedAt) < 15*time.Minute || len(v.Timeline) != 1 || v.Timeline[0].Outcome != "waiting" {
		t.Errorf("saga %+v", v)
	}
	page := cl.do(http.MethodGet, "/console/sagas/o-1", nil).Body.String()
	for _, want := range []string{"Waiting for", "pay-o-1", "Wakes at"} {
		if !strings.Contains(page, want) {
			t.Errorf("the saga's page does not show %q", want)
		}
	}
}
