package sqlstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-microkit/microkit/saga"
)

// encodeSteps encodes the step records as a JSON array (the steps
// column), byte for byte as json.Marshal does with StepRecord's tags. It
// runs on every write, where json.Marshal's reflection (which boxes each
// time to ask it IsZero) costs several times more.
func encodeSteps(steps []saga.StepRecord) (string, error) {
	if len(steps) == 0 {
		return "[]", nil
	}
	buf := stepBufs.Get().(*[]byte)
	b, err := appendSteps((*buf)[:0], steps)
	s := string(b)
	if cap(b) <= maxStepBuf {
		*buf = b
		stepBufs.Put(buf)
	}
	if err != nil {
		return "", fmt.Errorf("encode steps: %w", err)
	}
	return s, nil
}

// stepBufs recycles encodeSteps' buffers (the string it returns is a
// copy), as json.Marshal recycles its own; maxStepBuf keeps the odd huge
// one (a long error text) from staying in the pool.
var stepBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxStepBuf = 64 << 10

// appendSteps appends the JSON array of steps to b.
func appendSteps(b []byte, steps []saga.StepRecord) ([]byte, error) {
	b = append(b, '[')
	for i := range steps {
		s := &steps[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(append(b, `{"n":`...), s.Name)
		b = appendString(append(b, `,"s":`...), string(s.Status))
		b = appendInt(b, `,"a":`, s.Attempts)
		b = appendInt(b, `,"c":`, s.CompensateAttempts)
		b = appendInt(b, `,"q":`, s.Seq)
		if s.Failed {
			b = append(b, `,"f":true`...)
		}
		if s.Error != "" {
			b = appendString(append(b, `,"e":`...), s.Error)
		}
		var err error
		for _, t := range []struct {
			key string
			at  time.Time
		}{{`,"xs":`, s.StartedAt}, {`,"xe":`, s.EndedAt}, {`,"cs":`, s.CompensateStartedAt}, {`,"ce":`, s.CompensateEndedAt}} {
			if b, err = appendTime(b, t.key, t.at); err != nil {
				return b, fmt.Errorf("step %s: %w", s.Name, err)
			}
		}
		if s.WaitKey != "" {
			b = appendString(append(b, `,"k":`...), s.WaitKey)
		}
		if b, err = appendTime(b, `,"w":`, s.WakeAt); err != nil {
			return b, fmt.Errorf("step %s: %w", s.Name, err)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendInt appends key and n unless n is zero (omitempty).
func appendInt(b []byte, key string, n int) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), int64(n), 10)
}

// appendTime appends key and t as time.Time's MarshalJSON does, unless t
// is zero (omitzero).
func appendTime(b []byte, key string, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return b, nil
	}
	b, err := t.AppendText(append(append(b, key...), '"')) // RFC 3339, strict like MarshalJSON
	return append(b, '"'), err
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it: quotes, backslashes, control characters, <, > and &, U+2028
// and U+2029, and each invalid UTF-8 byte as U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
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
