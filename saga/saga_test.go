package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

func TestOrderOfExecutionAndCompensation(t *testing.T) {
	tests := []struct {
		name     string
		stages   func(j *journal) []saga.Stage[order]
		want     []string
		wantErr  error
		wantStep string
	}{
		{
			name: "all steps complete in order",
			stages: func(j *journal) []saga.Stage[order] {
				return []saga.Stage[order]{step(j, "a", 0, nil), step(j, "b", 0, nil), step(j, "c", 0, nil)}
			},
			want: []string{"do a", "do b", "do c"},
		},
		{
			name: "a failed step may have taken effect: it is compensated first, then the completed ones in reverse",
			stages: func(j *journal) []saga.Stage[order] {
				return []saga.Stage[order]{step(j, "a", 0, nil), step(j, "b", 0, nil), step(j, "c", 1, errBoom)}
			},
			want:     []string{"do a", "do b", "fail c", "undo c", "undo b", "undo a"},
			wantErr:  errBoom,
			wantStep: "c",
		},
		{
			name: "a permanent error proves nothing: the step is compensated",
			stages: func(j *journal) []saga.Stage[order] {
				return []saga.Stage[order]{step(j, "a", 0, nil), step(j, "b", 1, retry.Permanent(errBoom))}
			},
			want:     []string{"do a", "fail b", "undo b", "undo a"},
			wantErr:  errBoom,
			wantStep: "b",
		},
		{
			name: "a NotApplied failure is not compensated",
			stages: func(j *journal) []saga.Stage[order] {
				return []saga.Stage[order]{step(j, "a", 0, nil), step(j, "b", 0, nil), step(j, "c", 1, saga.NotApplied(errBoom))}
			},
			want:     []string{"do a", "do b", "fail c", "undo b", "undo a"},
			wantErr:  errBoom,
			wantStep: "c",
		},
		{
			name: "failure of the first step compensates it alone",
			stages: func(j *journal) []saga.Stage[order] {
				return []saga.Stage[order]{step(j, "a", 1, errBoom), step(j, "b", 0, nil)}
			},
			want:     []string{"fail a", "undo a"},
			wantErr:  errBoom,
			wantStep: "a",
		},
		{
			name: "a NotApplied failure of the first step compensates nothing",
			stages: func(j *journal) []saga.Stage[order] {
				return []saga.Stage[order]{step(j, "a", 1, saga.NotApplied(errBoom)), step(j, "b", 0, nil)}
			},
			want:     []string{"fail a"},
			wantErr:  errBoom,
			wantStep: "a",
		},
		{
			name: "a step without Compensate is skipped in compensation",
			stages: func(j *journal) []saga.Stage[order] {
				b := step(j, "b", 0, nil)
				b.Compensate = nil
				return []saga.Stage[order]{step(j, "a", 0, nil), b, step(j, "c", 1, errBoom)}
			},
			want:     []string{"do a", "do b", "fail c", "undo c", "undo a"},
			wantErr:  errBoom,
			wantStep: "c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &journal{}
			o := newOrchestrator(t, saga.NewMemoryStore())
			_, err := define(t, o, tt.stages(j)...).Run(context.Background(), o, order{})
			if got := j.list(); !slices.Equal(got, tt.want) {
				t.Errorf("journal = %q, want %q", got, tt.want)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var ce *saga.CompensatedError
			if !errors.As(err, &ce) || !errors.Is(err, saga.ErrCompensated) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Run error = %v, want a CompensatedError wrapping %v", err, tt.wantErr)
			}
			if ce.Step != tt.wantStep {
				t.Errorf("failed step = %q, want %q", ce.Step, tt.wantStep)
			}
		})
	}
}

func TestStateIsPersistedAndReturned(t *testing.T) {
	j := &journal{}
	store := saga.NewMemoryStore()
	o := newOrchestrator(t, store)
	writes := func(s saga.Step[order]) saga.Step[order] {
		exec := s.Execute
		s.Execute = func(ctx context.Context, o *order) error {
			o.Items = append(o.Items, s.Name)
			return exec(ctx, o)
		}
		return s
	}
	got, err := define(t, o, writes(step(j, "a", 0, nil)), writes(step(j, "b", 0, nil))).Run(context.Background(), o, order{}, saga.WithID("order-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Items, []string{"a", "b"}) {
		t.Errorf("state = %+v", got)
	}
	rec, err := store.Get(context.Background(), "order-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != saga.StatusCompleted || string(rec.State) != `{"items":["a","b"],"charged":0}` {
		t.Errorf("record = %s %s", rec.Status, rec.State)
	}
	for i, sr := range rec.Steps {
		if sr.Status != saga.StepDone || sr.Seq != i+1 || sr.Attempts != 1 {
			t.Errorf("step %d = %+v", i, sr)
		}
	}
}

func TestDuplicateIDIsRefused(t *testing.T) {
	j := &journal{}
	o := newOrchestrator(t, saga.NewMemoryStore())
	s := define(t, o, step(j, "a", 0, nil))
	if _, err := s.Run(context.Background(), o, order{}, saga.WithID("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), o, order{}, saga.WithID("x")); !errors.Is(err, saga.ErrDuplicate) {
		t.Fatalf("second Run = %v, want ErrDuplicate", err)
	}
	if got := j.list(); !slices.Equal(got, []string{"do a"}) {
		t.Errorf("journal = %q", got)
	}
}

func TestParallelGroup(t *testing.T) {
	t.Run("all complete", func(t *testing.T) {
		j := &journal{}
		o := newOrchestrator(t, saga.NewMemoryStore())
		_, err := define(t, o, step(j, "a", 0, nil), saga.Parallel(step(j, "b", 0, nil), step(j, "c", 0, nil)), step(j, "d", 0, nil)).
			Run(context.Background(), o, order{})
		if err != nil {
			t.Fatal(err)
		}
		got := j.list()
		if len(got) != 4 || got[0] != "do a" || got[3] != "do d" || !slices.Contains(got, "do b") || !slices.Contains(got, "do c") {
			t.Errorf("journal = %q", got)
		}
	})
	t.Run("a failure awaits the siblings then compensates in reverse completion order", func(t *testing.T) {
		j := &journal{}
		release := make(chan struct{})
		slow := saga.Step[order]{
			Name: "slow",
			Execute: func(ctx context.Context, _ *order) error {
				<-release // finishes only after the sibling failed
				j.add("do slow")
				return nil
			},
			Compensate: func(context.Context, *order) error { j.add("undo slow"); return nil },
		}
		failing := saga.Step[order]{
			Name: "failing",
			Execute: func(context.Context, *order) error {
				j.add("fail failing")
				close(release)
				return retry.Permanent(errBoom)
			},
		}
		o := newOrchestrator(t, saga.NewMemoryStore())
		_, err := define(t, o, step(j, "a", 0, nil), saga.Parallel(slow, failing), step(j, "z", 0, nil)).Run(context.Background(), o, order{})
		if !errors.Is(err, errBoom) {
			t.Fatalf("Run = %v", err)
		}
		want := []string{"do a", "fail failing", "do slow", "undo slow", "undo a"}
		if got := j.list(); !slices.Equal(got, want) {
			t.Errorf("journal = %q, want %q", got, want)
		}
	})
}

func TestParallelGroupFailureInDoubt(t *testing.T) {
	// The failed step of a group may have taken effect: it is compensated
	// first, then its sibling that completed, then the earlier stage.
	j := &journal{}
	release := make(chan struct{})
	sibling := step(j, "sibling", 0, nil)
	exec := sibling.Execute
	sibling.Execute = func(ctx context.Context, o *order) error {
		<-release
		return exec(ctx, o)
	}
	failing := step(j, "failing", 1, errBoom)
	failExec := failing.Execute
	failing.Execute = func(ctx context.Context, o *order) error {
		defer close(release)
		return failExec(ctx, o)
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	_, err := define(t, o, step(j, "a", 0, nil), saga.Parallel(sibling, failing)).Run(context.Background(), o, order{})
	var ce *saga.CompensatedError
	if !errors.As(err, &ce) || ce.Step != "failing" {
		t.Fatalf("Run = %v", err)
	}
	want := []string{"do a", "fail failing", "do sibling", "undo failing", "undo sibling", "undo a"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("journal = %q, want %q", got, want)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		retry    retry.Policy
		err      error
		want     []string
		wantErr  bool
	}{
		{"retried until it succeeds", 2, retries(3), errBoom, []string{"fail b", "fail b", "do b"}, false},
		{"retries run out", 5, retries(2), errBoom, []string{"fail b", "fail b", "fail b", "undo b"}, true},
		{"the zero policy means one attempt", 1, retry.Policy{}, errBoom, []string{"fail b", "undo b"}, true},
		{"permanent error is not retried", 3, retries(5), retry.Permanent(errBoom), []string{"fail b", "undo b"}, true},
		{"permanent error wrapped again is not retried", 3, retries(5), fmt.Errorf("charge: %w", retry.Permanent(errBoom)), []string{"fail b", "undo b"}, true},
		{"NotApplied is neither retried nor compensated", 3, retries(5), saga.NotApplied(errBoom), []string{"fail b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &journal{}
			b := step(j, "b", tt.failures, tt.err)
			b.Retry = tt.retry
			o := newOrchestrator(t, saga.NewMemoryStore())
			_, err := define(t, o, b).Run(context.Background(), o, order{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run = %v, want error %v", err, tt.wantErr)
			}
			if got := j.list(); !slices.Equal(got, tt.want) {
				t.Errorf("journal = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("classifier stops retrying", func(t *testing.T) {
		j := &journal{}
		b := step(j, "b", 3, errBoom)
		b.Retry = retries(5)
		b.Retryable = func(err error) bool { return !errors.Is(err, errBoom) }
		o := newOrchestrator(t, saga.NewMemoryStore())
		if _, err := define(t, o, b).Run(context.Background(), o, order{}); !errors.Is(err, errBoom) {
			t.Fatalf("Run = %v", err)
		}
		if got := j.list(); !slices.Equal(got, []string{"fail b", "undo b"}) {
			t.Errorf("journal = %q", got)
		}
	})
}

func TestStepTimeoutIsRetriedThenCompensates(t *testing.T) {
	j := &journal{}
	attempts := 0
	blocked := saga.Step[order]{
		Name:    "blocked",
		Timeout: time.Millisecond,
		Retry:   retries(1),
		Execute: func(ctx context.Context, _ *order) error {
			attempts++
			<-ctx.Done() // never answers: only the timeout ends it
			return ctx.Err()
		},
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	_, err := define(t, o, step(j, "a", 0, nil), blocked).Run(context.Background(), o, order{})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v", err)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2", attempts)
	}
	if got := j.list(); !slices.Equal(got, []string{"do a", "undo a"}) {
		t.Errorf("journal = %q", got)
	}
}

func TestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &journal{}
		slow := step(j, "b", 0, nil)
		exec := slow.Execute
		slow.Execute = func(ctx context.Context, o *order) error {
			time.Sleep(time.Minute) // the step takes a minute of the saga's 30s
			return exec(ctx, o)
		}
		store := saga.NewMemoryStore()
		o := newOrchestrator(t, store)
		_, err := define(t, o, step(j, "a", 0, nil), slow, step(j, "c", 0, nil)).
			Run(context.Background(), o, order{}, saga.WithID("d"), saga.WithDeadline(time.Now().Add(30*time.Second)))
		if !errors.Is(err, saga.ErrDeadlineExceeded) || !errors.Is(err, saga.ErrCompensated) {
			t.Fatalf("Run = %v", err)
		}
		if got, want := j.list(), []string{"do a", "do b", "undo b", "undo a"}; !slices.Equal(got, want) {
			t.Errorf("journal = %q, want %q", got, want)
		}
		rec, err := store.Get(context.Background(), "d")
		if err != nil || rec.Status != saga.StatusCompensated || rec.Error != saga.ErrDeadlineExceeded.Error() {
			t.Fatalf("record = %+v, %v", rec, err)
		}
	})
}

func TestPanicInStepCompensates(t *testing.T) {
	j := &journal{}
	o := newOrchestrator(t, saga.NewMemoryStore())
	bad := saga.Step[order]{Name: "bad", Retry: retries(3), Execute: func(context.Context, *order) error { panic("bug") }}
	_, err := define(t, o, step(j, "a", 0, nil), bad).Run(context.Background(), o, order{})
	if !errors.Is(err, saga.ErrCompensated) || !strings.Contains(err.Error(), "panicked: bug") {
		t.Fatalf("Run = %v", err)
	}
	if got := j.list(); !slices.Equal(got, []string{"do a", "undo a"}) {
		t.Errorf("journal = %q", got)
	}
}

// TestDeadlineCompensationsGetALiveContext checks that a saga that passed
// its deadline can still compensate: the deadline stops the saga going
// forward, it must not cancel the compensations that undo it (a participant
// call that honours its context would otherwise fail every attempt and
// strand the saga in CompensationFailed).
func TestDeadlineCompensationsGetALiveContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &journal{}
		var undoErrs []error
		a := step(j, "a", 0, nil)
		a.Compensate = func(ctx context.Context, _ *order) error {
			undoErrs = append(undoErrs, ctx.Err())
			if err := ctx.Err(); err != nil {
				return err
			}
			j.add("undo a")
			return nil
		}
		slow := step(j, "b", 0, nil)
		exec := slow.Execute
		slow.Execute = func(ctx context.Context, o *order) error {
			time.Sleep(time.Minute)
			return exec(ctx, o)
		}
		o := newOrchestrator(t, saga.NewMemoryStore())
		_, err := define(t, o, a, slow, step(j, "c", 0, nil)).
			Run(context.Background(), o, order{}, saga.WithDeadline(time.Now().Add(30*time.Second)))
		if !errors.Is(err, saga.ErrDeadlineExceeded) || !errors.Is(err, saga.ErrCompensated) {
			t.Fatalf("Run = %v, compensation contexts %v", err, undoErrs)
		}
		if got, want := j.list(), []string{"do a", "do b", "undo b", "undo a"}; !slices.Equal(got, want) {
			t.Errorf("journal = %q, want %q", got, want)
		}
	})
}
