package retry_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/go-microkit/microkit/retry"
)

func TestPermanent(t *testing.T) {
	if retry.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	base := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}
	p := retry.Permanent(base)
	if !retry.IsPermanent(p) || retry.IsPermanent(base) || retry.IsPermanent(nil) {
		t.Fatal("IsPermanent does not tell a marked error from an unmarked one")
	}
	if p.Error() != base.Error() {
		t.Fatalf("message %q, want the wrapped %q", p.Error(), base.Error())
	}
	var pe *fs.PathError
	if !errors.Is(p, fs.ErrNotExist) || !errors.As(p, &pe) || pe != base || errors.Unwrap(p) != base {
		t.Fatal("errors.Is, As or Unwrap do not see through Permanent")
	}
	if retry.Permanent(p) != p {
		t.Fatal("Permanent wrapped an error that was already permanent")
	}
	if wrapped := fmt.Errorf("charge: %w", p); !retry.IsPermanent(wrapped) {
		t.Fatal("a permanent error wrapped again is no longer permanent")
	}
	if joined := errors.Join(errors.New("a"), p); !retry.IsPermanent(joined) {
		t.Fatal("a joined permanent error is no longer permanent")
	}
}
