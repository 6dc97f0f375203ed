package sagatest

import (
	"context"
	"errors"
	"testing"

	"github.com/go-microkit/microkit/saga"
)

// txTests are the checks of a [saga.TxStore], run for stores that
// implement it.
var txTests = []storeTest[saga.TxStore]{
	{"TxCommitAppliesCreateAndUpdate", testTxCommit},
	{"TxErrorRollsBackAll", testTxRollback},
	{"TxCompareAndSwap", testTxConflict},
	{"TxNestedJoins", testTxNested},
	{"LocalSagaCompletes", testLocalSagaCompletes},
}

var errRollback = errors.New("sagatest: roll back")

func get(t *testing.T, s saga.Store, id string) *saga.Record {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return r
}

func testTxCommit(t *testing.T, s saga.TxStore) {
	r := record("a", saga.StatusRunning, base)
	err := s.InTx(context.Background(), func(ctx context.Context) error {
		if err := s.Create(ctx, r); err != nil {
			return err
		}
		r.Status, r.Steps[1].Status = saga.StatusCompleted, saga.StepDone
		if err := s.Update(ctx, r); err != nil {
			return err
		}
		if got, err := s.Get(ctx, "a"); err != nil || got.Status != saga.StatusCompleted || got.Version != 2 {
			t.Errorf("Get in the transaction = %+v, %v; want its own writes", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 {
		t.Errorf("version %d after Create and Update, want 2", r.Version)
	}
	equal(t, get(t, s, "a"), r)
}

func testTxRollback(t *testing.T, s saga.TxStore) {
	ctx := context.Background()
	b := record("b", saga.StatusRunning, base)
	if err := s.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := b.Clone()
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, record("a", saga.StatusRunning, base)); err != nil {
			return err
		}
		b.Status = saga.StatusCompleted
		if err := s.Update(ctx, b); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("InTx = %v, want fn's error", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("Create of a rolled-back transaction: Get = %v, want ErrNotFound", err)
	}
	equal(t, get(t, s, "b"), want)
}

func testTxConflict(t *testing.T, s saga.TxStore) {
	ctx := context.Background()
	r := record("a", saga.StatusRunning, base)
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	stale := r.Clone()
	r.Owner = "node-2"
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		return s.Update(ctx, stale)
	})
	if !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("stale Update in a transaction = %v, want ErrConflict", err)
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		return s.Create(ctx, record("a", saga.StatusRunning, base))
	})
	if !errors.Is(err, saga.ErrDuplicate) {
		t.Fatalf("duplicate Create in a transaction = %v, want ErrDuplicate", err)
	}
	equal(t, get(t, s, "a"), r)
}

func testTxNested(t *testing.T, s saga.TxStore) {
	ctx := context.Background()
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.InTx(ctx, func(ctx context.Context) error {
			return s.Create(ctx, record("a", saga.StatusRunning, base))
		}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("InTx = %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("a nested InTx committed on its own: Get = %v, want ErrNotFound", err)
	}
	r := record("a", saga.StatusRunning, base)
	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.InTx(ctx, func(ctx context.Context) error { return s.Create(ctx, r) }); err != nil {
			return err
		}
		r.Status = saga.StatusCompleted
		return s.Update(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, get(t, s, "a"), r)
}

// testLocalSagaCompletes drives a saga whose first and last steps are
// Local: three writes in all, the first creating the record.
func testLocalSagaCompletes(t *testing.T, s saga.TxStore) {
	p := newParticipants()
	step := func(name string, local bool) saga.Step[state] {
		return saga.Step[state]{Name: name, Local: local, Execute: func(ctx context.Context, st *state) error {
			p.count(ctx, false)
			st.Done = append(st.Done, name)
			return nil
		}}
	}
	def, err := saga.New("conformance-local", step("order", true), step("reserve", false), step("charge", false), step("confirm", true))
	if err != nil {
		t.Fatal(err)
	}
	o := orchestrator(t, s, def)
	if _, err := def.Run(context.Background(), o, state{Amount: 10}, saga.WithID("local")); err != nil {
		t.Fatal(err)
	}
	rec := get(t, s, "local")
	if rec.Status != saga.StatusCompleted || string(rec.State) != `{"amount":10,"done":["order","reserve","charge","confirm"]}` {
		t.Errorf("record %s %s", rec.Status, rec.State)
	}
	if rec.Version != 3 {
		t.Errorf("the saga took %d writes, want 3", rec.Version)
	}
	for i, sr := range rec.Steps {
		if sr.Status != saga.StepDone || sr.Seq != i+1 || sr.Attempts != 1 {
			t.Errorf("step %+v", sr)
		}
	}
}
