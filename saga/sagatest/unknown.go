package sagatest

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// The cases below check what happens to a step whose outcome is unknown,
// and to compensations that fail, through a real orchestrator over the
// store under test (the step records must round-trip through it).

var errLost = errors.New("reply lost")

// declined is a participant's definitive refusal: nothing happened.
var declined = behaviour{before: func(context.Context) error { return saga.NotApplied(errors.New("declined")) }}

func wantJournal(t *testing.T, p *participants, want ...string) {
	t.Helper()
	if got := p.log(); !slices.Equal(got, want) {
		t.Errorf("journal\n got  %q\n want %q", got, want)
	}
}

// testFailedStepInDoubtIsCompensated: a step that failed in a way that
// proves nothing (its reply was lost after the effect, or it timed out
// before) is compensated, first, then the steps before it.
func testFailedStepInDoubtIsCompensated(t *testing.T, s saga.Store) {
	fail := func(context.Context) error { return errLost }
	tests := []struct {
		id      string
		charge  behaviour
		journal []string
	}{
		{"lost-reply", behaviour{after: fail}, []string{
			"do lost-reply/reserve", "do lost-reply/charge", "undo lost-reply/charge", "undo lost-reply/reserve"}},
		{"no-effect", behaviour{before: fail}, []string{
			"do no-effect/reserve", "undo no-effect/charge", "undo no-effect/reserve"}},
		// An attempt in doubt taints the step even when the last one says
		// NotApplied: only the participant's answer about the key proves
		// anything, and a retry's answer is not about the earlier attempt.
		{"doubt-then-declined", behaviour{retries: 1, before: firstThen(nil, saga.NotApplied(errors.New("declined"))), after: firstThen(errLost, nil)}, []string{
			"do doubt-then-declined/reserve", "do doubt-then-declined/charge", "undo doubt-then-declined/charge", "undo doubt-then-declined/reserve"}},
	}
	for _, tt := range tests {
		p := newParticipants()
		def := p.sagaWith("in-doubt", map[string]behaviour{"charge": tt.charge})
		o := orchestrator(t, s, def)
		_, err := def.Run(context.Background(), o, state{}, saga.WithID(tt.id))
		var ce *saga.CompensatedError
		if !errors.As(err, &ce) || ce.Step != "charge" {
			t.Fatalf("%s: Run = %v, want compensated after charge", tt.id, err)
		}
		wantJournal(t, p, tt.journal...)
		rec, err := s.Get(context.Background(), tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if c := rec.Steps[1]; rec.Status != saga.StatusCompensated || c.Status != saga.StepCompensated || !c.Failed {
			t.Errorf("%s: record %s, charge %+v", tt.id, rec.Status, c)
		}
	}
}

// firstThen returns a behaviour that answers first on its first call and
// then on every later one.
func firstThen(first, then error) func(context.Context) error {
	var calls atomic.Int32
	return func(context.Context) error {
		if calls.Add(1) == 1 {
			return first
		}
		return then
	}
}

func brokenRefund(context.Context) error { return retry.Permanent(errors.New("refunds down")) }

// testCompensationFailureHalts: by default the first compensation that
// fails for good stops the compensation; the earlier steps are left as they
// are for the operator.
func testCompensationFailureHalts(t *testing.T, s saga.Store) {
	p := newParticipants()
	def := p.sagaWith("halt", map[string]behaviour{"charge": {undo: brokenRefund}, "ship": declined})
	o := orchestrator(t, s, def)
	_, err := def.Run(context.Background(), o, state{}, saga.WithID("halt"))
	var failed *saga.CompensationFailedError
	if !errors.As(err, &failed) || failed.Step != "charge" {
		t.Fatalf("Run = %v, want charge's compensation failed", err)
	}
	wantJournal(t, p, "do halt/reserve", "do halt/charge")
	rec, err := s.Get(context.Background(), "halt")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != saga.StatusCompensationFailed || rec.Steps[0].Status != saga.StepDone || rec.Steps[1].Status != saga.StepCompensationFailed {
		t.Errorf("record %s %+v", rec.Status, rec.Steps)
	}
}

// testContinueOnCompensationFailure: with WithContinueOnCompensationFailure
// the earlier steps are compensated past the failure, the saga still ends
// CompensationFailed and listed, and RetryCompensation then undoes only
// what is left.
func testContinueOnCompensationFailure(t *testing.T, s saga.Store) {
	p := newParticipants()
	var fixed atomic.Bool
	refund := func(ctx context.Context) error {
		if fixed.Load() {
			return nil
		}
		return brokenRefund(ctx)
	}
	def := p.sagaWith("continue", map[string]behaviour{"charge": {undo: refund}, "ship": declined})
	o := orchestrator(t, s, def, saga.WithContinueOnCompensationFailure())
	_, err := def.Run(context.Background(), o, state{}, saga.WithID("cont"))
	var failed *saga.CompensationFailedError
	if !errors.As(err, &failed) || failed.Step != "charge" {
		t.Fatalf("Run = %v, want charge's compensation failed", err)
	}
	wantJournal(t, p, "do cont/reserve", "do cont/charge", "undo cont/reserve")
	list, err := o.Failed(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != "cont" {
		t.Fatalf("Failed = %v, %v", list, err)
	}
	if st := list[0].Steps; st[0].Status != saga.StepCompensated || st[1].Status != saga.StepCompensationFailed {
		t.Errorf("steps %+v", st)
	}
	fixed.Store(true)
	if err := o.RetryCompensation(context.Background(), "cont"); err != nil {
		t.Fatalf("RetryCompensation = %v", err)
	}
	wantJournal(t, p, "do cont/reserve", "do cont/charge", "undo cont/reserve", "undo cont/charge")
	if rec, _ := s.Get(context.Background(), "cont"); rec.Status != saga.StatusCompensated {
		t.Errorf("status after retry %s", rec.Status)
	}
}

// testRecoverCompensatesInterruptedStep: a step a crash interrupted may
// have taken effect, so when its re-execution after Recover is declined
// (NotApplied), it is compensated all the same.
func testRecoverCompensatesInterruptedStep(t *testing.T, s saga.Store) {
	p := newParticipants()
	def := p.sagaWith("interrupted", map[string]behaviour{"charge": declined})
	dead := orchestrator(t, s, def, saga.WithOwnerID("dead"))
	ctx, cancel := context.WithCancel(context.Background())
	_, err := def.Run(context.WithValue(ctx, strandKey{}, cancel), dead, state{}, saga.WithID("int"))
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stranding: %v", err)
	}
	expireLeases(t, s, "int")
	o := orchestrator(t, s, def, saga.WithOwnerID("next"))
	res, err := o.Recover(context.Background())
	if err != nil || res.Compensated != 1 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	wantJournal(t, p, "do int/reserve", "undo int/charge", "undo int/reserve")
}

// testRecoverHonoursPersistedFailure: Recover continues a compensation
// from the record alone: a failed step recorded in doubt (with a Seq) is
// compensated first, one recorded as not applied is not.
func testRecoverHonoursPersistedFailure(t *testing.T, s saga.Store) {
	for _, id := range []string{"doubt", "declined"} {
		charge := saga.StepRecord{Name: "charge", Status: saga.StepFailed, Attempts: 1, Failed: true, Error: "x"}
		if id == "doubt" {
			charge.Seq = 2
		}
		rec := &saga.Record{
			ID: id, Name: "persisted", Status: saga.StatusCompensating, Error: "x",
			State: []byte(`{"amount":0,"done":["reserve"]}`),
			Steps: []saga.StepRecord{
				{Name: "reserve", Status: saga.StepDone, Attempts: 1, Seq: 1},
				charge,
				{Name: "ship", Status: saga.StepPending},
			},
			// The lease lapsed an hour ago, whenever the test runs.
			Owner: "dead", LeaseUntil: time.Now().Add(-time.Hour), CreatedAt: base, UpdatedAt: base,
		}
		if err := s.Create(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(context.Background(), id); got.Steps[1] != charge {
			t.Fatalf("store returned step %+v, stored %+v", got.Steps[1], charge)
		}
	}
	p := newParticipants()
	o := orchestrator(t, s, p.sagaWith("persisted", nil), saga.WithRecoverConcurrency(1))
	res, err := o.Recover(context.Background())
	if err != nil || res.Compensated != 2 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	got := p.log()
	for _, want := range [][]string{{"undo doubt/charge", "undo doubt/reserve"}, {"undo declined/reserve"}} {
		if i := slices.Index(got, want[0]); i < 0 || i+len(want) > len(got) || !slices.Equal(got[i:i+len(want)], want) {
			t.Errorf("journal %q lacks %q in order", got, want)
		}
	}
	if len(got) != 3 {
		t.Errorf("journal %q, want 3 compensations", got)
	}
}
