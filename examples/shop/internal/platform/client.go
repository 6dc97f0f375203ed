package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-microkit/microkit/gateway"
)

// CallJSON sends in (nil for no body) as JSON with method to url through
// client and decodes a 2xx answer into out (which may be nil). A non-2xx
// answer is a *StatusError. subject, when not empty, is passed on as the
// authenticated user (gateway.DefaultSubjectHeader).
func CallJSON(ctx context.Context, client *http.Client, method, url, subject string, in, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, url, err)
		}
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if subject != "" {
		req.Header.Set(gateway.DefaultSubjectHeader, subject)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if err := DecodeResponse(resp, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return nil
}

// Subject returns the authenticated user the gateway passed on, or "".
func Subject(r *http.Request) string { return r.Header.Get(gateway.DefaultSubjectHeader) }
