package eventbus

import (
	"fmt"
	"strings"
)

// maxTypeLen bounds event types so that they fit broker subject limits.
const maxTypeLen = 255

// ValidateType reports whether t is a valid event type: one or more
// non-empty tokens separated by '.', without whitespace, control characters,
// '*' or '>', at most 255 bytes.
func ValidateType(t string) error {
	if err := validateTokens(t, false); err != nil {
		return fmt.Errorf("%w: type %q: %s", ErrInvalidMessage, t, err)
	}
	return nil
}

// ValidatePattern reports whether p is a valid subscription pattern: like an
// event type, except that a token may be "*" (exactly one token) and the last
// token may be ">" (one or more tokens).
func ValidatePattern(p string) error {
	if err := validateTokens(p, true); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidPattern, p, err)
	}
	return nil
}

type tokenError string

func (e tokenError) Error() string { return string(e) }

func validateTokens(s string, wildcards bool) error {
	if s == "" {
		return tokenError("empty")
	}
	if len(s) > maxTypeLen {
		return tokenError("longer than 255 bytes")
	}
	for s != "" {
		tok, rest, more := strings.Cut(s, ".")
		s = rest
		switch {
		case tok == "":
			return tokenError("empty token")
		case more && s == "":
			return tokenError("empty token")
		case wildcards && tok == "*":
			continue
		case wildcards && tok == ">":
			if more {
				return tokenError("'>' must be the last token")
			}
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return tokenError(fmt.Sprintf("invalid character %q", c))
			}
		}
	}
	return nil
}

// Match reports whether the event type t matches pattern. It does not
// validate either; it allocates nothing.
func Match(pattern, t string) bool {
	for {
		ptok, prest, pmore := strings.Cut(pattern, ".")
		if ptok == ">" {
			return t != ""
		}
		ttok, trest, tmore := strings.Cut(t, ".")
		if ptok != "*" && ptok != ttok {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		pattern, t = prest, trest
	}
}
