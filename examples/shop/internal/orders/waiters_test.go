package orders

import "testing"

// A request waiting for an order gets the order its saga's local step
// settled, once the transition after that step's commit wakes it, and
// reads it otherwise.
func TestWaitersHandOverTheSettledOrder(t *testing.T) {
	confirmed := Order{ID: "o-1", Status: StatusConfirmed}
	tests := []struct {
		name       string
		keep       []Order
		withLatest bool
		want       *Order // handed over; nil: closed without one
	}{
		{"the settled order", []Order{{ID: "o-1", Status: StatusPending}, confirmed}, true, &confirmed},
		{"a transition that follows no local step", []Order{confirmed}, false, nil},
		{"nothing kept", nil, true, nil},
		{"another order's", []Order{{ID: "o-2", Status: StatusConfirmed}}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWaiters()
			ch, stop := w.watch("o-1")
			defer stop()
			for _, o := range tt.keep {
				w.keep(o)
			}
			w.wake("o-1", tt.withLatest)
			o, handed := <-ch
			switch {
			case tt.want == nil && handed:
				t.Fatalf("handed over %+v, want none", o)
			case tt.want != nil && (!handed || o.ID != tt.want.ID || o.Status != tt.want.Status):
				t.Fatalf("handed over %+v (%v), want %+v", o, handed, *tt.want)
			}
			if _, open := <-ch; open {
				t.Fatal("the channel is still open after the wake")
			}
			if len(w.latest) != 0 || len(w.by) != 0 {
				t.Fatalf("left behind: %d kept, %d watched", len(w.latest), len(w.by))
			}
		})
	}
}

// An order is kept only while a request watches it, and forgotten with
// the last watch.
func TestWaitersKeepOnlyWatched(t *testing.T) {
	w := newWaiters()
	w.keep(Order{ID: "o-1", Status: StatusConfirmed})
	if len(w.latest) != 0 {
		t.Fatal("kept an order nobody watches")
	}
	_, stop1 := w.watch("o-1")
	_, stop2 := w.watch("o-1")
	w.keep(Order{ID: "o-1", Status: StatusConfirmed})
	stop1()
	if len(w.latest) != 1 {
		t.Fatal("forgot the order while a request still watches it")
	}
	stop2()
	if len(w.latest) != 0 || len(w.by) != 0 {
		t.Fatalf("left behind after the last watch: %d kept, %d watched", len(w.latest), len(w.by))
	}
}
