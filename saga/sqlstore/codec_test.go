package sqlstore

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

func FuzzDecodeSteps(f *testing.F) {
	f.Add(`[]`)
	f.Add(`[{"n":"reserve","s":"done","a":2,"q":1},{"n":"charge","s":"running","a":1,"e":"timeout"}]`)
	f.Add(`[{"n":"a","s":"compensation_failed","c":3,"q":2,"e":"\u00e9\n\"x\""}]`)
	f.Add(`[{"n":"a","s":"compensated","xs":"2026-03-01T12:00:00.123456789+02:00","xe":"2026-03-01T10:00:01Z","cs":"2026-03-01T10:00:02Z","ce":"2026-03-01T10:00:03.5Z"}]`)
	f.Add(`null`)
	f.Add(`{"n":"a"}`)
	f.Add(`[{"n":1}]`)
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := decodeSteps(s)
		if err != nil {
			return
		}
		// Whatever decodes is encoded as json.Marshal encodes it, and
		// survives a round trip unchanged (times as the same instant in
		// the same offset, which the encoding shows).
		enc, err := encodeSteps(steps)
		if err != nil {
			t.Fatalf("encode %+v: %v", steps, err)
		}
		if want, _ := json.Marshal(steps); len(steps) > 0 && enc != string(want) {
			t.Fatalf("encoded %+v as\n %s\nwant\n %s", steps, enc, want)
		}
		again, err := decodeSteps(enc)
		if err != nil {
			t.Fatalf("decode of own encoding %q: %v", enc, err)
		}
		if enc2, err := encodeSteps(again); err != nil || enc2 != enc || len(again) != len(steps) {
			t.Fatalf("round trip changed %s into %s (%v)", enc, enc2, err)
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

// TestEncodeStepsIsJSONMarshal: the hand-written encoder writes what
// json.Marshal writes, for step records with every field set (filled by
// reflection, so that a field added to StepRecord is covered) and
// strings that need escaping.
func TestEncodeStepsIsJSONMarshal(t *testing.T) {
	strs := []string{"", "reserve", "quote \" backslash \\ slash /", "\n\r\t\b\f\x00\x1f\x7f", "<a href=\"x\">&amp;</a>",
		"é ü 日本 🎉", "\u2028\u2029", "bad \xff\xfe utf-8 \xc3", "timeout: \"quoted\"\n"}
	times := []time.Time{{}, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("", 2*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(9*3600+30*60)))}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Interface().(type) {
			case string, saga.StepStatus:
				f.SetString(strs[rng.IntN(len(strs))])
			case int:
				f.SetInt(int64(rng.IntN(5)) - 1)
			case bool:
				f.SetBool(rng.IntN(2) == 0)
			case time.Time:
				f.Set(reflect.ValueOf(times[rng.IntN(len(times))]))
			default:
				t.Fatalf("StepRecord.%s: a %s, which this test does not fill", v.Type().Field(i).Name, f.Type())
			}
		}
	}
	for range 500 {
		steps := make([]saga.StepRecord, 1+rng.IntN(4))
		for i := range steps {
			fill(reflect.ValueOf(&steps[i]).Elem())
		}
		want, err := json.Marshal(steps)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := encodeSteps(steps); err != nil || got != string(want) {
			t.Fatalf("encodeSteps(%+v) =\n %s, %v\nwant\n %s", steps, got, err, want)
		}
	}
	late := []saga.StepRecord{{Name: "a", EndedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := encodeSteps(late); err == nil {
		t.Error("encodeSteps of the year 10000: want an error, as json.Marshal gives")
	}
}
