package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestAddrReturnsValue(t *testing.T) {
	t.Setenv("MICROKIT_TESTENV_PROBE", "127.0.0.1:1")
	if got := Addr(t, "MICROKIT_TESTENV_PROBE"); got != "127.0.0.1:1" {
		t.Fatalf("Addr = %q, want 127.0.0.1:1", got)
	}
}

// TestAddrUnset runs the unset case in a child test binary, once with
// RequireEnv set and once without, and checks that it fails or skips.
func TestAddrUnset(t *testing.T) {
	if os.Getenv("MICROKIT_TESTENV_CHILD") != "" {
		Addr(t, "MICROKIT_TESTENV_SURELY_UNSET")
		t.Fatal("Addr returned for an unset variable")
	}
	for _, tc := range []struct {
		require  string
		wantFail bool
		wantText string
	}{
		{require: "", wantFail: false, wantText: "--- SKIP"},
		{require: "1", wantFail: true, wantText: "--- FAIL"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAddrUnset$", "-test.v")
		cmd.Env = append(os.Environ(), "MICROKIT_TESTENV_CHILD=1", RequireEnv+"="+tc.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail {
			t.Errorf("require=%q: err = %v, want failure %v\n%s", tc.require, err, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.wantText) || !strings.Contains(string(out), "MICROKIT_TESTENV_SURELY_UNSET") {
			t.Errorf("require=%q: output lacks %q and the variable's name:\n%s", tc.require, tc.wantText, out)
		}
	}
}
