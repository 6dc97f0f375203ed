package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// encodeSteps encodes the step records as a JSON array (the steps column).
func encodeSteps(steps []saga.StepRecord) (string, error) {
	if len(steps) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(steps)
	if err != nil {
		return "", fmt.Errorf("encode steps: %w", err)
	}
	return string(b), nil
}

// decodeSteps parses the steps column; an empty array decodes to nil.
func decodeSteps(s string) ([]saga.StepRecord, error) {
	var steps []saga.StepRecord
	if err := json.Unmarshal([]byte(s), &steps); err != nil {
		return nil, fmt.Errorf("decode steps: %w", err)
	}
	if len(steps) == 0 {
		return nil, nil
	}
	return steps, nil
}

// unixNano stores a time as nanoseconds since the epoch, 0 for the zero
// time, so that both dialects order and compare it as an integer.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullBytes keeps an empty state a non-NULL empty value.
func nullBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
