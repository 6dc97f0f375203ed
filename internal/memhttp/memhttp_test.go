package memhttp_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/internal/memhttp"
)

// echo answers with the method, host, path and body it saw, after the
// time the "wait" header names.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if d, err := time.ParseDuration(r.Header.Get("Wait")); err == nil {
		time.Sleep(d)
	}
	body, _ := io.ReadAll(r.Body)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, r.Method+" "+r.Host+r.URL.Path+" "+string(body))
})

func TestTransportInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &http.Client{Transport: memhttp.Transport{Handler: echo}}
		req, _ := http.NewRequest("POST", "http://svc.test/a", strings.NewReader("hi"))
		req.Header.Set("Wait", "1h")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated || string(body) != "POST svc.test/a hi" || resp.Request != req {
			t.Fatalf("%d %q, request %p", resp.StatusCode, body, resp.Request)
		}
		if d := time.Since(start); d != time.Hour {
			t.Fatalf("the handler's hour took %v of the bubble's clock", d)
		}
	})
}

func TestHosts(t *testing.T) {
	c := &http.Client{Transport: memhttp.Hosts{"a.test": echo, "b.test:8080": echo}}
	for _, u := range []string{"http://a.test/x", "http://b.test:8080/y"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "GET " + strings.TrimPrefix(u, "http://") + " "; string(body) != want {
			t.Errorf("%s: %q, want %q", u, body, want)
		}
	}
	if _, err := c.Get("http://c.test/"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("unknown host: %v, want connection refused", err)
	}
}
