package sqlstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

func FuzzDecodeSteps(f *testing.F) {
	f.Add(`[]`)
	f.Add(`[{"n":"reserve","s":"done","a":2,"q":1},{"n":"charge","s":"running","a":1,"e":"timeout"}]`)
	f.Add(`[{"n":"a","s":"compensation_failed","c":3,"q":2,"e":"\u00e9\n\"x\""}]`)
	f.Add(`null`)
	f.Add(`{"n":"a"}`)
	f.Add(`[{"n":1}]`)
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := decodeSteps(s)
		if err != nil {
			return
		}
		// Whatever decodes must survive a round trip unchanged.
		enc, err := encodeSteps(steps)
		if err != nil {
			t.Fatalf("encode %+v: %v", steps, err)
		}
		again, err := decodeSteps(enc)
		if err != nil {
			t.Fatalf("decode of own encoding %q: %v", enc, err)
		}
		if !reflect.DeepEqual(steps, again) {
			t.Fatalf("round trip changed %+v into %+v", steps, again)
		}
	})
}

func TestUnixNano(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Unix(0, 1), time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))} {
		if got := fromUnixNano(unixNano(tm)); !got.Equal(tm) {
			t.Errorf("%v came back as %v", tm, got)
		}
	}
	if steps, err := decodeSteps(`[]`); err != nil || steps != nil {
		t.Errorf("empty steps = %v, %v", steps, err)
	}
	if _, err := decodeSteps(`[`); err == nil {
		t.Error("truncated steps decoded")
	}
	if s, _ := encodeSteps([]saga.StepRecord{{Name: "a", Status: saga.StepDone}}); s != `[{"n":"a","s":"done"}]` {
		t.Errorf("encoding = %s", s)
	}
}
