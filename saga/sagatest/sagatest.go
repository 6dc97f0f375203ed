package sagatest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// Run runs the conformance suite against the stores newStore returns; each
// call must return a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) saga.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s saga.Store)
	}{
		{"CreateThenGet", testCreateThenGet},
		{"CreateDuplicate", testCreateDuplicate},
		{"GetMissing", testGetMissing},
		{"UpdateCompareAndSwap", testUpdateCompareAndSwap},
		{"ConcurrentUpdatesOneWins", testConcurrentUpdates},
		{"ConcurrentCreatesOneWinsPerID", testConcurrentCreates},
		{"ListFiltersAndOrders", testList},
		{"ListEachFilter", testListEachFilter},
		{"ListPagesStable", testListPages},
		{"CopiesInAndOut", testCopies},
		{"SagaCompletes", testSagaCompletes},
		{"SagaCompensates", testSagaCompensates},
		{"RecoverTwoOrchestrators", testRecoverTwoOrchestrators},
		{"FailedStepInDoubtIsCompensated", testFailedStepInDoubtIsCompensated},
		{"CompensationFailureHaltsByDefault", testCompensationFailureHalts},
		{"ContinueOnCompensationFailure", testContinueOnCompensationFailure},
		{"RecoverCompensatesInterruptedStep", testRecoverCompensatesInterruptedStep},
		{"RecoverHonoursPersistedFailure", testRecoverHonoursPersistedFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
	runFor(t, newStore, waitTests)
	// ParkStore is an optimization that a store may leave out (the
	// orchestrator then reads what Park and Deliver return): its tests
	// run only for a store that implements it.
	if _, ok := newStore(t).(saga.ParkStore); ok {
		runFor(t, newStore, parkTests)
	}
	runFor(t, newStore, txTests)
}

// storeTest is a test of the stores that implement S.
type storeTest[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runFor runs tests against the stores newStore returns, each skipped if
// the store does not implement S.
func runFor[S any](t *testing.T, newStore func(t *testing.T) saga.Store, tests []storeTest[S]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := newStore(t).(S)
			if !ok {
				var want *S
				t.Skipf("the store does not implement %T", want)
			}
			tt.fn(t, s)
		})
	}
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func record(id string, status saga.Status, created time.Time) *saga.Record {
	return &saga.Record{
		ID: id, Name: "conformance", Status: status,
		State: []byte(`{"amount":1999,"items":["a","b"]}`),
		Steps: []saga.StepRecord{
			{Name: "reserve", Status: saga.StepDone, Attempts: 2, Seq: 1,
				StartedAt: created.Add(time.Millisecond), EndedAt: created.Add(2 * time.Millisecond),
				CompensateStartedAt: created.Add(3 * time.Millisecond), CompensateEndedAt: created.Add(4*time.Millisecond + 1)},
			{Name: "charge", Status: saga.StepRunning, Attempts: 1, Failed: true, Error: "timeout: \"quoted\"\n",
				StartedAt: created.Add(5 * time.Millisecond).In(time.FixedZone("UTC+2", 2*60*60))},
			{Name: "ship", Status: saga.StepPending},
		},
		Owner: "node-1", LeaseUntil: created.Add(30 * time.Second),
		Deadline: created.Add(time.Hour), Error: "cause", Note: "note",
		CreatedAt: created, UpdatedAt: created.Add(time.Millisecond),
	}
}

// equal compares records, times (the steps' too) by instant.
func equal(t *testing.T, got, want *saga.Record) {
	t.Helper()
	g, w := *got, *want
	g.Steps, w.Steps = slices.Clone(g.Steps), slices.Clone(w.Steps)
	pairs := [][2]*time.Time{{&g.LeaseUntil, &w.LeaseUntil}, {&g.Deadline, &w.Deadline}, {&g.CreatedAt, &w.CreatedAt}, {&g.UpdatedAt, &w.UpdatedAt}, {&g.WakeAt, &w.WakeAt}}
	for i := range min(len(g.Steps), len(w.Steps)) {
		gs, ws := &g.Steps[i], &w.Steps[i]
		pairs = append(pairs, [2]*time.Time{&gs.StartedAt, &ws.StartedAt}, [2]*time.Time{&gs.EndedAt, &ws.EndedAt},
			[2]*time.Time{&gs.CompensateStartedAt, &ws.CompensateStartedAt}, [2]*time.Time{&gs.CompensateEndedAt, &ws.CompensateEndedAt},
			[2]*time.Time{&gs.WakeAt, &ws.WakeAt})
	}
	for _, pair := range pairs {
		if !pair[0].Equal(*pair[1]) {
			t.Errorf("time %v, want %v", *pair[0], *pair[1])
		}
		*pair[0], *pair[1] = time.Time{}, time.Time{}
	}
	if string(g.State) != string(w.State) {
		t.Errorf("state %s, want %s", g.State, w.State)
	}
	g.State, w.State = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("record\n got  %+v\n want %+v", g, w)
	}
}

func testCreateThenGet(t *testing.T, s saga.Store) {
	ctx := context.Background()
	want := record("a", saga.StatusRunning, base)
	if err := s.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	if want.Version != 1 {
		t.Errorf("Create set version %d, want 1", want.Version)
	}
	got, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, want)

	zero := &saga.Record{ID: "zero", Name: "conformance", Status: saga.StatusRunning}
	if err := s.Create(ctx, zero); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, "zero")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Deadline.IsZero() || !got.LeaseUntil.IsZero() || len(got.State) != 0 || len(got.Steps) != 0 {
		t.Errorf("zero fields came back as %+v", got)
	}
}

func testCreateDuplicate(t *testing.T, s saga.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, record("a", saga.StatusRunning, base)); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, record("a", saga.StatusCompleted, base)); !errors.Is(err, saga.ErrDuplicate) {
		t.Fatalf("second Create = %v, want ErrDuplicate", err)
	}
	got, _ := s.Get(ctx, "a")
	if got.Status != saga.StatusRunning {
		t.Errorf("duplicate Create overwrote the record: %s", got.Status)
	}
}

func testGetMissing(t *testing.T, s saga.Store) {
	if _, err := s.Get(context.Background(), "missing"); !errors.Is(err, saga.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

func testUpdateCompareAndSwap(t *testing.T, s saga.Store) {
	ctx := context.Background()
	r := record("a", saga.StatusRunning, base)
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	stale := r.Clone()
	r.Status, r.State, r.Steps[1].Status = saga.StatusCompensating, []byte(`{"amount":0}`), saga.StepDone
	r.Owner, r.LeaseUntil, r.Error = "node-2", base.Add(time.Minute), "changed"
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 {
		t.Errorf("Update set version %d, want 2", r.Version)
	}
	got, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, r)
	if err := s.Update(ctx, stale); !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("stale Update = %v, want ErrConflict", err)
	}
	if stale.Version != 1 {
		t.Errorf("failed Update changed the version to %d", stale.Version)
	}
	if err := s.Update(ctx, record("missing", saga.StatusRunning, base)); !errors.Is(err, saga.ErrNotFound) {
		t.Fatalf("Update of a missing record = %v, want ErrNotFound", err)
	}
}

func testConcurrentUpdates(t *testing.T, s saga.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, record("a", saga.StatusRunning, base)); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		wins      []string
		conflicts int
	)
	for i := range n {
		wg.Go(func() {
			r := record("a", saga.StatusRunning, base)
			r.Version, r.Owner = 1, fmt.Sprint("node-", i)
			err := s.Update(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, r.Owner)
			case errors.Is(err, saga.ErrConflict):
				conflicts++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 || conflicts != n-1 {
		t.Fatalf("%d updates won (%v), %d conflicted; want exactly one winner", len(wins), wins, conflicts)
	}
	got, _ := s.Get(ctx, "a")
	if got.Owner != wins[0] || got.Version != 2 {
		t.Errorf("stored owner %s version %d, want %s version 2", got.Owner, got.Version, wins[0])
	}
}

func testConcurrentCreates(t *testing.T, s saga.Store) {
	ctx := context.Background()
	const ids, writers = 4, 24
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[string]int{}
		dups int
	)
	for i := range writers {
		wg.Go(func() {
			r := record(fmt.Sprint("id-", i%ids), saga.StatusRunning, base)
			r.Owner = fmt.Sprint("writer-", i)
			err := s.Create(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins[r.ID]++
			case errors.Is(err, saga.ErrDuplicate):
				dups++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(wins) != ids || dups != writers-ids {
		t.Fatalf("creates won %v with %d duplicates; want one win per id", wins, dups)
	}
	for id, n := range wins {
		if n != 1 {
			t.Errorf("%s created %d times", id, n)
		}
	}
}

func testList(t *testing.T, s saga.Store) {
	ctx := context.Background()
	statuses := []saga.Status{saga.StatusRunning, saga.StatusCompleted, saga.StatusCompensating, saga.StatusCompensationFailed, saga.StatusRunning}
	for i, st := range statuses {
		if err := s.Create(ctx, record(fmt.Sprint("r", i), st, base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		filter saga.Filter
		want   []string
	}{
		{saga.Filter{}, []string{"r0", "r1", "r2", "r3", "r4"}},
		{saga.Filter{Statuses: []saga.Status{saga.StatusRunning, saga.StatusCompensating}}, []string{"r0", "r2", "r4"}},
		{saga.Filter{Statuses: []saga.Status{saga.StatusCompensationFailed}}, []string{"r3"}},
		{saga.Filter{Statuses: []saga.Status{saga.StatusResolved}}, nil},
		{saga.Filter{Limit: 2}, []string{"r0", "r1"}},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("List(%+v) = %v, want %v", tt.filter, ids(got), tt.want)
		}
	}
	got, _ := s.List(ctx, saga.Filter{Limit: 1})
	equal(t, got[0], func() *saga.Record { r := record("r0", saga.StatusRunning, base); r.Version = 1; return r }())
}

func testCopies(t *testing.T, s saga.Store) {
	ctx := context.Background()
	r := record("a", saga.StatusRunning, base)
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The orchestrator reuses its buffers: the store must not keep them.
	r.State[0], r.Steps[0].Name = 'X', "changed"
	got, _ := s.Get(ctx, "a")
	if got.State[0] != '{' || got.Steps[0].Name != "reserve" {
		t.Fatalf("store kept the caller's buffers: %s %+v", got.State, got.Steps[0])
	}
	got.State[0], got.Steps[0].Name = 'Y', "mutated"
	again, _ := s.Get(ctx, "a")
	if again.State[0] != '{' || again.Steps[0].Name != "reserve" {
		t.Fatalf("Get returned the store's own buffers")
	}
}
