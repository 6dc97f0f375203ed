package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// byHeader is an Authorize that trusts the X-Operator header: "" is
// unauthenticated, "mallory" forbidden, a name ending in "-ro" read-only.
func byHeader(r *http.Request) (console.Operator, error) {
	name := r.Header.Get("X-Operator")
	switch {
	case name == "":
		return console.Operator{}, console.ErrUnauthenticated
	case name == "mallory":
		return console.Operator{}, errors.New("not an operator")
	}
	return console.Operator{Name: name, ReadOnly: strings.HasSuffix(name, "-ro")}, nil
}

// client sends requests to a console as one operator.
type client struct {
	t        *testing.T
	h        http.Handler
	operator string
}

func (c client) do(method, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://shop.test"+path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.operator != "" {
		r.Header.Set("X-Operator", c.operator)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	return w
}

// act runs action with form, confirmed, through the JSON API, and
// returns its result, failing on any status but 200.
func (c client) act(action string, form url.Values) console.ActionResult {
	c.t.Helper()
	form.Set("confirm", "yes")
	w := c.do(http.MethodPost, "/console/api/actions/"+action, form)
	var res console.ActionResult
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil {
		c.t.Fatalf("%s: %d %s", action, w.Code, w.Body)
	}
	return res
}

// json GETs path and decodes its JSON into v, failing on any status but 200.
func (c client) json(path string, v any) {
	c.t.Helper()
	w := c.do(http.MethodGet, path, nil)
	if w.Code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("GET %s: content type %q", path, ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		c.t.Fatalf("GET %s: %v in %s", path, err, w.Body)
	}
}

func newConsole(t *testing.T, opts ...console.Option) *console.Console {
	t.Helper()
	c, err := console.New(byHeader, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewNeedsAuthorize(t *testing.T) {
	for name, tc := range map[string]struct {
		auth console.Authorize
		opts []console.Option
	}{
		"no authorize":   {nil, nil},
		"path without /": {byHeader, []console.Option{console.WithPath("/console")}},
		"relative path":  {byHeader, []console.Option{console.WithPath("console/")}},
		"nil logger":     {byHeader, []console.Option{console.WithLogger(nil)}},
		"bad origin":     {byHeader, []console.Option{console.WithTrustedOrigin("not a url")}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := console.New(tc.auth, tc.opts...); !errors.Is(err, console.ErrInvalidOption) {
				t.Fatalf("New: %v, want ErrInvalidOption", err)
			}
		})
	}
}

// Every page and document needs an operator the Authorize function
// accepts; the answers have the toolkit's error shape under api/.
func TestAuthorization(t *testing.T) {
	checkAccess(t, newConsole(t), "/console/api/", []access{
		{"", "/console/api/", http.StatusUnauthorized},
		{"", "/console/", http.StatusUnauthorized},
		{"mallory", "/console/api/breakers", http.StatusForbidden},
		{"mallory", "/console/breakers", http.StatusForbidden},
		{"ada", "/console/api/", http.StatusOK},
		{"ada", "/console/", http.StatusOK},
		{"ada", "/console/nothing-here", http.StatusNotFound},
		{"ada", "/console/api/nothing-here", http.StatusNotFound},
	})
}

// The breakers view shows state, window counts, failure rate and, through
// the console's listener, when a breaker opened and until when.
func TestBreakersView(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newConsole(t)
		b, err := breaker.New("payments", breaker.WithListener(c.BreakerListener()),
			breaker.WithConsecutiveFailures(2), breaker.WithOpenDuration(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		quiet, err := breaker.New("users")
		if err != nil {
			t.Fatal(err)
		}
		c.AddBreakers(quiet, b)
		cl := client{t, c, "ada"}
		fail := func(context.Context) error { return errors.New("boom") }
		_ = b.Execute(t.Context(), fail)
		_ = b.Execute(t.Context(), fail)
		opened := time.Now()
		var v console.BreakersView
		cl.json("/console/api/breakers", &v)
		if v.Open != 1 || len(v.Breakers) != 2 {
			t.Fatalf("view: %+v, want 2 breakers, 1 open", v)
		}
		p := v.Breakers[0] // open ones first
		if p.Name != "payments" || p.State != "open" || !p.Since.Equal(opened) || !p.OpenUntil.Equal(opened.Add(30*time.Second)) {
			t.Fatalf("payments: %+v, want open since %v until 30s later", p, opened)
		}
		if len(p.Transitions) != 1 || p.Transitions[0].From != "closed" || p.Transitions[0].To != "open" {
			t.Fatalf("transitions: %+v", p.Transitions)
		}
		if v.Breakers[1].Name != "users" || v.Breakers[1].State != "closed" || len(v.Breakers[1].Transitions) != 0 {
			t.Fatalf("users: %+v", v.Breakers[1])
		}
		page := cl.do(http.MethodGet, "/console/breakers", nil)
		if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "payments") ||
			!strings.Contains(page.Body.String(), `class="state st-open"`) || !strings.Contains(page.Body.String(), "<svg") {
			t.Fatalf("breakers page: %d %s", page.Code, page.Body)
		}
	})
}

// captured records what the console logs.
type captured struct {
	bytes.Buffer
}

func (c *captured) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&c.Buffer, nil)) }

// An action is POST only, asks for confirmation first, runs with
// confirm=yes, is audited with the operator's name, and is refused to a
// read-only operator, in read-only mode and to a cross-origin browser.
func TestActions(t *testing.T) {
	var log captured
	c := newConsole(t, console.WithLogger(log.logger()))
	b, err := breaker.New("payments", breaker.WithListener(c.BreakerListener()))
	if err != nil {
		t.Fatal(err)
	}
	c.AddBreakers(b)
	ada := client{t, c, "ada"}
	form := url.Values{"name": {"payments"}}

	if w := ada.do(http.MethodGet, "/console/actions/breaker-force-open?name=payments&confirm=yes", nil); w.Code != http.StatusNotFound || b.State() != breaker.Closed {
		t.Fatalf("GET an action: %d, breaker %v; want 404 and nothing done", w.Code, b.State())
	}
	w := ada.do(http.MethodPost, "/console/actions/breaker-force-open", form)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="confirm" value="yes"`) || b.State() != breaker.Closed {
		t.Fatalf("unconfirmed: %d, breaker %v, page %s", w.Code, b.State(), w.Body)
	}
	if w := ada.do(http.MethodPost, "/console/api/actions/breaker-force-open", form); w.Code != http.StatusBadRequest || b.State() != breaker.Closed {
		t.Fatalf("unconfirmed API call: %d, breaker %v", w.Code, b.State())
	}
	form.Set("confirm", "yes")
	if w := ada.do(http.MethodPost, "/console/actions/breaker-force-open", form, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden || b.State() != breaker.Closed {
		t.Fatalf("cross-site: %d, breaker %v", w.Code, b.State())
	}
	if w := ada.do(http.MethodPost, "/console/actions/breaker-force-open", form, "Origin", "https://evil.test"); w.Code != http.StatusForbidden || b.State() != breaker.Closed {
		t.Fatalf("foreign origin: %d, breaker %v", w.Code, b.State())
	}
	if w := (client{t, c, "bob-ro"}).do(http.MethodPost, "/console/api/actions/breaker-force-open", form); w.Code != http.StatusForbidden || b.State() != breaker.Closed {
		t.Fatalf("read-only operator: %d, breaker %v", w.Code, b.State())
	}
	var res console.ActionResult
	w = ada.do(http.MethodPost, "/console/api/actions/breaker-force-open", form, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil || res.Done != 1 || b.State() != breaker.ForcedOpen {
		t.Fatalf("confirmed: %d %s, breaker %v", w.Code, w.Body, b.State())
	}
	if !strings.Contains(log.String(), `"operator":"ada"`) || !strings.Contains(log.String(), `"action":"breaker-force-open"`) {
		t.Fatalf("audit log: %s", log.String())
	}
	if w := ada.do(http.MethodPost, "/console/actions/breaker-reset", form); w.Code != http.StatusOK || b.State() != breaker.Closed {
		t.Fatalf("reset: %d, breaker %v", w.Code, b.State())
	}
	if w := ada.do(http.MethodPost, "/console/api/actions/breaker-reset", url.Values{"name": {"nope"}, "confirm": {"yes"}}); w.Code != http.StatusNotFound {
		t.Fatalf("unknown breaker: %d", w.Code)
	}
	if w := ada.do(http.MethodPost, "/console/api/actions/no-such-action", form); w.Code != http.StatusNotFound {
		t.Fatalf("unknown action: %d", w.Code)
	}

	ro := newConsole(t, console.WithReadOnly())
	ro.AddBreakers(b)
	if w := (client{t, ro, "ada"}).do(http.MethodPost, "/console/api/actions/breaker-force-open", form); w.Code != http.StatusForbidden || b.State() != breaker.Closed {
		t.Fatalf("read-only console: %d, breaker %v", w.Code, b.State())
	}
	if page := (client{t, ro, "ada"}).do(http.MethodGet, "/console/breakers", nil); strings.Contains(page.Body.String(), "<form") {
		t.Fatal("the read-only console's page offers an action")
	}
}

// resolverStub is a resolver's state as the console reads it.
type resolverStub map[string]discovery.ServiceStatus

func (r resolverStub) Services() []string {
	var out []string
	for s := range r {
		out = append(out, s)
	}
	return out
}

func (r resolverStub) Status(s string) discovery.ServiceStatus { return r[s] }

func TestDiscoveryView(t *testing.T) {
	c := newConsole(t)
	in := func(id string, port int) discovery.Instance {
		return discovery.Instance{ID: id, Service: "orders", Address: "127.0.0.1", Port: port}
	}
	c.AddResolver("http", resolverStub{
		"orders": {Instances: []discovery.Instance{in("o-1", 8001), in("o-2", 8002)}, Ejected: []string{"o-2"},
			EjectedUntil: map[string]time.Time{"o-2": time.Now().Add(time.Minute)}},
		"payments": {Stale: true, LastError: errors.New("registry unreachable")},
		"users":    {Instances: []discovery.Instance{in("u-1", 8003)}},
	})
	var v console.DiscoveryView
	client{t, c, "ada"}.json("/console/api/discovery", &v)
	if len(v.Services) != 3 || v.Attention != 2 {
		t.Fatalf("view: %+v, want 3 services, 2 needing attention", v)
	}
	o := v.Services[0]
	if o.Service != "orders" || o.Healthy != 1 || !o.Instances[1].Ejected || o.Instances[1].EjectedUntil.IsZero() ||
		!o.Instances[0].EjectedUntil.IsZero() || o.Instances[0].Address != "127.0.0.1:8001" {
		t.Fatalf("orders: %+v", o)
	}
	if p := v.Services[1]; !p.Stale || p.LastError != "registry unreachable" || len(p.Instances) != 0 {
		t.Fatalf("payments: %+v", p)
	}
	page := client{t, c, "ada"}.do(http.MethodGet, "/console/discovery", nil).Body.String()
	for _, want := range []string{"ejected", "back in 1m", "stale", "registry unreachable", "127.0.0.1:8003"} {
		if !strings.Contains(page, want) {
			t.Errorf("discovery page lacks %q", want)
		}
	}
}

// publisher counts what it is given, failing while fail is set.
type publisher struct{ fail bool }

func (p *publisher) Publish(context.Context, ...*eventbus.Message) error {
	if p.fail {
		return errors.New("broker down")
	}
	return nil
}

func (p *publisher) Close(context.Context) error { return nil }

// The outbox view reads the backlog from the table and the relay's rounds
// from the console's listener; the overview counts an outbox the relay
// failed on as needing attention.
func TestOutboxView(t *testing.T) {
	ctx := t.Context()
	db, _ := sqltest.Open(t, sqldialect.SQLite, "console_outbox")
	if err := outbox.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		t.Fatal(err)
	}
	c := newConsole(t)
	c.AddOutbox("orders", db, sqldialect.SQLite, "")
	pub := &publisher{fail: true}
	relay, err := outbox.NewRelay(db, sqldialect.SQLite, pub, outbox.WithListener(c.OutboxListener()))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2"} {
		m, err := eventbus.NewMessage("order.created", map[string]string{"id": id})
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Add(ctx, tx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.RelayOnce(ctx); err == nil {
		t.Fatal("relay with the broker down: no error")
	}
	cl := client{t, c, "ada"}
	var v console.OutboxesView
	cl.json("/console/api/outbox", &v)
	o := v.Outboxes[0]
	if o.Pending != 2 || o.OldestAttempts != 1 || o.Relay.Rounds != 1 || o.Relay.LastError == "" || len(o.Backlog) != 1 {
		t.Fatalf("broker down: %+v", o)
	}
	var ov console.OverviewView
	cl.json("/console/api/", &ov)
	if len(ov.Items) != 1 || ov.Items[0].Area != "outbox" || ov.Items[0].Attention != 1 || ov.Items[0].Total != 2 {
		t.Fatalf("overview: %+v", ov)
	}
	pub.fail = false
	if n, err := relay.RelayOnce(ctx); n != 2 || err != nil {
		t.Fatalf("relay: %d, %v", n, err)
	}
	// Every read takes a reading: the view, the overview, and this one.
	v = console.OutboxesView{}
	cl.json("/console/api/outbox", &v)
	if o := v.Outboxes[0]; o.Pending != 0 || !o.OldestAt.IsZero() || o.Relay.Rounds != 2 || o.Relay.Events != 2 || o.Relay.PerSecond <= 0 || len(o.Backlog) != 3 {
		t.Fatalf("published: %+v", o)
	}
	// A scheduled event is no backlog: the view counts it apart, with its
	// due time.
	due := time.Now().Add(time.Hour)
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	later, err := eventbus.NewMessage("order.reminded", map[string]string{"id": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.AddAt(ctx, tx, due, later); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	v = console.OutboxesView{}
	cl.json("/console/api/outbox", &v)
	if o := v.Outboxes[0]; o.Pending != 0 || o.Scheduled != 1 || !o.NextDueAt.Equal(due) {
		t.Fatalf("one scheduled: %+v", o)
	}
	page := cl.do(http.MethodGet, "/console/outbox", nil).Body.String()
	if !strings.Contains(page, `<svg class="spark"`) {
		t.Fatalf("outbox page without its sparkline: %s", page)
	}
	if !strings.Contains(page, "next in 1h0m0s") && !strings.Contains(page, "next in 59m59s") {
		t.Fatalf("outbox page without the next due time: %s", page)
	}
	c.AddOutbox("gone", db, sqldialect.SQLite, "no_such_table")
	v = console.OutboxesView{}
	cl.json("/console/api/outbox", &v)
	if v.Outboxes[1].ReadError == "" {
		t.Fatalf("an unreadable outbox: %+v", v.Outboxes[1])
	}
}

// Run reads the backlogs on its own, once an interval, until stopped.
func TestRunSamples(t *testing.T) {
	ctx := t.Context()
	db, _ := sqltest.Open(t, sqldialect.SQLite, "console_run")
	if err := outbox.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		t.Fatal(err)
	}
	c := newConsole(t)
	c.AddOutbox("orders", db, sqldialect.SQLite, "")
	if err := c.Run(ctx, 0); !errors.Is(err, console.ErrInvalidOption) {
		t.Fatalf("Run(0): %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v console.OutboxesView
		client{t, c, "ada"}.json("/console/api/outbox", &v)
		// The page view itself takes one reading; more are Run's.
		if len(v.Outboxes[0].Backlog) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, %d readings", len(v.Outboxes[0].Backlog))
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

// Every page is server-rendered HTML that reads without JavaScript.
func TestPagesNeedNoScript(t *testing.T) {
	c := newConsole(t, console.WithTitle("order-service"))
	b, _ := breaker.New("payments")
	c.AddBreakers(b)
	cl := client{t, c, "ada"}
	for _, p := range []string{"/console/", "/console/breakers", "/console/discovery", "/console/outbox", "/console/assets/console.css"} {
		w := cl.do(http.MethodGet, p, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
		if strings.Contains(strings.ToLower(w.Body.String()), "<script") {
			t.Errorf("GET %s: the page has a script", p)
		}
	}
	if !strings.Contains(cl.do(http.MethodGet, "/console/", nil).Body.String(), "order-service") {
		t.Error("the title is not shown")
	}
}
