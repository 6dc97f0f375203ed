package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// cluster runs the shop as separate OS processes of one binary against real
// NATS, Consul and PostgreSQL, with names unique to the test run. A process
// is named by its service, with "-2", "-3", ... for further instances.
type cluster struct {
	t       *testing.T
	bin     string
	args    map[string][]string // by service
	env     []string
	pgURL   string
	consul  *consul.Registry // the agent every process registers with
	mu      sync.Mutex
	procs   map[string]*exec.Cmd // by process name
	urls    map[string]string
	logs    map[string]*logBuffer
	dbs     map[string]*sql.DB // by service
	gateway string
	traces  *otlpCollector // where every process exports its spans
	run     string         // the prefix of this run's service names
}

// logBuffer keeps a process's output for the failure message.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clusterConfig says what a cluster runs on; zero values mean the shared
// servers of the environment.
type clusterConfig struct {
	natsURL    string              // a server or a cluster's comma-separated URLs
	pgURL      string              // a PostgreSQL database
	consulAddr string              // a Consul agent's HTTP address
	bus        string              // the event bus (-bus); zero means NATS at natsURL
	extra      map[string][]string // more flags, by service
}

// shopBinary builds the shop once per test binary.
var shopBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "microkit-shop-test-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "shop")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

var binDir string // removed by TestMain

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func newCluster(t *testing.T, cfgs ...clusterConfig) *cluster {
	var cfg clusterConfig
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	if cfg.natsURL == "" {
		cfg.natsURL = testenv.Addr(t, "MICROKIT_NATS_URL")
	}
	if cfg.consulAddr == "" {
		cfg.consulAddr = testenv.Addr(t, "CONSUL_HTTP_ADDR")
	}
	natsURL := cfg.natsURL
	pgURL := cfg.pgURL
	if pgURL == "" {
		pgURL = testenv.Addr(t, "MICROKIT_POSTGRES_URL")
	}

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	run := "t" + hex.EncodeToString(b)
	dir := t.TempDir()
	bin, err := shopBinary()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := consul.New(nil, consul.WithAddress(cfg.consulAddr))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, args: map[string][]string{}, procs: map[string]*exec.Cmd{},
		urls: map[string]string{}, logs: map[string]*logBuffer{}, dbs: map[string]*sql.DB{}, run: run, pgURL: pgURL,
		consul: reg}
	// Registered before the cleanup that stops the processes, so it
	// outlives their final flush.
	c.traces = newOTLPCollector(t)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "SHOP_NATS_URL="+natsURL, "CONSUL_HTTP_ADDR="+cfg.consulAddr,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+c.traces.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100")
	var schemas []string
	for _, svc := range shop.All {
		args := []string{"-service", svc, "-prefix", run + "-", "-addr", "127.0.0.1:0", "-quiet",
			"-rate-limit", "1000000", "-saga-lease", "2s", "-data", filepath.Join(dir, svc),
			"-trace", "env"}
		if svc == shop.Order {
			// The warehouse ships an hour after a confirmation, well
			// within its deadline, unless a test's extra flags say
			// otherwise (the last flag wins).
			args = append(args, "-ship-after", "1h", "-ship-deadline", "2h")
		}
		if svc != shop.Gateway {
			schemas = append(schemas, c.schema(svc))
			args = append(args, "-dsn", c.dsn(svc))
		}
		if cfg.bus != "" && (svc == shop.Order || svc == shop.Notification || svc == shop.Payment) {
			args = append(args, "-bus", cfg.bus)
		}
		c.args[svc] = append(args, cfg.extra[svc]...)
	}
	t.Cleanup(func() {
		c.stopAll()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if db, err := sql.Open("pgx", pgURL); err == nil {
			for _, s := range schemas {
				_, _ = db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE")
			}
			db.Close()
		}
		if nc, err := nats.Connect(natsURL); err == nil {
			if js, err := jetstream.New(nc); err == nil {
				_ = js.DeleteStream(ctx, strings.ToUpper(run)+"_SHOP")
			}
			nc.Close()
		}
		if t.Failed() {
			for svc, l := range c.logs {
				t.Logf("--- %s output:\n%s", svc, l.String())
			}
		}
	})
	return c
}

// schema returns the PostgreSQL schema of service.
func (c *cluster) schema(svc string) string { return c.run + "_" + svc }

// dsn returns the database URL of service.
func (c *cluster) dsn(svc string) string {
	u, err := url.Parse(c.pgURL)
	if err != nil {
		c.t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", c.schema(svc))
	u.RawQuery = q.Encode()
	return u.String()
}

// db returns a pool on the database of service, for the test's own
// checks; it is closed when the test ends.
func (c *cluster) db(svc string) *sql.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	if db := c.dbs[svc]; db != nil {
		return db
	}
	db, err := sql.Open("pgx", c.dsn(svc))
	if err != nil {
		c.t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	c.t.Cleanup(func() { db.Close() })
	c.dbs[svc] = db
	return db
}

// serviceOf returns the service a process name runs: "order-2" runs order.
func serviceOf(proc string) string {
	if i := strings.LastIndexByte(proc, '-'); i > 0 {
		return proc[:i]
	}
	return proc
}

// start runs the process proc (a service name, with "-2" for a second
// instance) and waits until it says where it serves.
func (c *cluster) start(proc string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, c.args[serviceOf(proc)]...)
	cmd.Env = c.env
	l := c.logs[proc]
	if l == nil {
		l = &logBuffer{}
		c.logs[proc] = l
	}
	cmd.Stderr = l
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[proc] = cmd
	c.mu.Unlock()
	ready := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(l, line)
			if _, u, ok := strings.Cut(line, " serving on "); ok {
				select {
				case ready <- u:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-exited:
		c.t.Fatalf("%s exited before it served:\n%s", proc, l.String())
	case u := <-ready:
		c.mu.Lock()
		c.urls[proc] = u
		c.mu.Unlock()
		if proc == shop.Gateway {
			c.gateway = u
		}
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s did not start:\n%s", proc, l.String())
	}
}

// startAll starts instances of every service but the gateway, and one
// gateway (launchAll), and returns once Consul passes every instance
// (waitAllPassing).
func (c *cluster) startAll(instances int) {
	c.t.Helper()
	c.launchAll(instances)
	c.waitAllPassing(instances)
}

// launchAll starts instances of every service but the gateway, and one
// gateway: the first instance of each, then the second of each, and so on,
// so that no two instances of a service migrate its schema at once.
func (c *cluster) launchAll(instances int) {
	c.t.Helper()
	for i := 1; i <= instances; i++ {
		for _, svc := range shop.All {
			switch {
			case svc == shop.Gateway:
			case i == 1:
				c.start(svc)
			default:
				c.start(fmt.Sprintf("%s-%d", svc, i))
			}
		}
	}
	c.start(shop.Gateway) // last: its upstreams are registered
}

// waitAllPassing waits until Consul passes the instances launchAll
// started: a process registers once it serves, but its HTTP check first
// runs a moment later, and until it passes neither the gateway's routes
// nor its aggregated console see the instance.
func (c *cluster) waitAllPassing(instances int) {
	c.t.Helper()
	for _, svc := range shop.All {
		want := instances
		if svc == shop.Gateway {
			want = 1
		}
		c.waitPassing(svc, want)
	}
}

// waitPassing waits until Consul passes n instances of service svc (a
// -service flag's name).
func (c *cluster) waitPassing(svc string, n int) {
	c.t.Helper()
	name := c.run + "-" + svc
	if svc != shop.Gateway {
		name += "-service" // the platform's names: "user-service", ...
	}
	err := shoptest.Eventually(waitCtx(c.t), 50*time.Millisecond, func() error {
		ins, err := c.consul.Instances(c.t.Context(), name)
		if err != nil {
			return err
		}
		if len(ins) < n {
			return fmt.Errorf("consul passes %d instances of %s, want %d", len(ins), name, n)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// kill sends SIGKILL to process proc and reaps it.
func (c *cluster) kill(proc string) {
	c.mu.Lock()
	cmd := c.procs[proc]
	delete(c.procs, proc)
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// stopAll stops every process with SIGTERM (graceful shutdown), the
// gateway first, then the services in reverse start order.
func (c *cluster) stopAll() {
	c.mu.Lock()
	var names []string
	for name := range c.procs {
		names = append(names, name)
	}
	c.mu.Unlock()
	order := func(name string) int { return slices.Index(shop.All, serviceOf(name)) }
	slices.SortFunc(names, func(a, b string) int { return order(b) - order(a) })
	for _, name := range names {
		c.mu.Lock()
		cmd := c.procs[name]
		delete(c.procs, name)
		c.mu.Unlock()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				c.t.Errorf("%s exited with %v after SIGTERM", name, err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			c.t.Errorf("%s did not stop within 20s of SIGTERM", name)
		}
	}
}

// expectTrace waits until the collector holds spans of the trace from every
// process a confirmed order crosses: over HTTP (gateway, order, product,
// payment), gRPC (product) and NATS (notification), and the order's saga
// with its steps inside the order-service.
func (c *cluster) expectTrace(traceID string) {
	c.t.Helper()
	type want struct {
		service string
		kind    tracepb.Span_SpanKind
		name    string // contained in the span name
	}
	server := tracepb.Span_SPAN_KIND_SERVER
	wants := []want{
		{shop.Gateway, server, "/api/orders"},
		{shop.Order, server, "POST /orders"},
		{shop.Order, tracepb.Span_SPAN_KIND_INTERNAL, "saga create-order"},
		{shop.Order, tracepb.Span_SPAN_KIND_INTERNAL, "saga step reserve-stock"},
		{shop.Product, server, "ProductService/GetProduct"},
		{shop.Product, server, "POST /reservations"},
		{shop.Payment, server, "POST /charges"},
		{shop.Notification, tracepb.Span_SPAN_KIND_CONSUMER, "process order.confirmed"},
	}
	err := shoptest.Eventually(waitCtx(c.t), 100*time.Millisecond, func() error {
		spans := c.traces.trace(traceID)
		var missing []string
		for _, w := range wants {
			service := c.run + "-" + w.service + "-service"
			if !slices.ContainsFunc(spans, func(s collectedSpan) bool {
				return s.Service == service && s.Kind == w.kind && strings.Contains(s.Name, w.name)
			}) {
				missing = append(missing, fmt.Sprintf("%s %s", service, w.name))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no span of %q in trace %s; it has %v", missing, traceID, spans)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// The order's lifecycle with one process per service, on each event bus:
// placed, paid asynchronously (the payment-service's event wakes the
// saga the order-service parked), shipped and notified, the trace carried
// across every process; and placed, its payment never confirmed, cancelled
// at its deadline with its stock released. The relays publish to NATS,
// Redis Streams or PostgreSQL, and other processes consume from there.
func TestShopClusterLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		bus  func(t *testing.T) string
	}{
		{"nats", func(t *testing.T) string { return "" }},
		{"redis", func(t *testing.T) string {
			return "redis://" + testenv.Addr(t, "MICROKIT_REDIS_ADDR")
		}},
		{"postgres", func(t *testing.T) string {
			dsn, _ := sqltest.PostgresSchema(t, "shopbus")
			return dsn
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, clusterConfig{bus: tc.bus(t), extra: map[string][]string{
				shop.Order: {"-ship-after", "200ms", "-payment-deadline", "2s"}}})
			c.startAll(1)
			user := &shoptest.Client{Base: c.gateway}
			warmUp(t, user)
			c.story(user)
			c.unpaid(user, adminClient(t, c.gateway))
		})
	}
}

// unpaid places an order whose payment is never confirmed (the payment
// fault hold_confirmations): it waits, pending, with its stock reserved,
// until its payment deadline, then is cancelled with payment_timeout, its
// stock released and its charge refunded.
func (c *cluster) unpaid(user, admin *shoptest.Client) {
	t := c.t
	t.Helper()
	ctx := t.Context()
	setFaults(t, admin, "payment-faults", map[string]any{"hold_confirmations": true})
	defer setFaults(t, admin, "payment-faults", map[string]any{})
	before := catalogStock(t, user)["p-mouse"]
	r, err := user.PlaceOrderNoWait(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 2})
	var o shoptest.Order
	if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "pending" {
		t.Fatalf("unpaid order: %v %d %s, want it pending", err, r.Status, r.Body)
	}
	if got := catalogStock(t, user)["p-mouse"]; got != before-2 {
		t.Errorf("mouse stock %d while the order waits, want %d reserved", got, before-2)
	}
	o = waitOrder(t, user, o.ID, "cancelled")
	if o.Reason == nil || o.Reason.Code != "payment_timeout" {
		t.Errorf("unpaid order %+v, want it cancelled for payment_timeout", o)
	}
	if got := catalogStock(t, user)["p-mouse"]; got != before {
		t.Errorf("mouse stock %d after the deadline, want %d released", got, before)
	}
	var d details
	if err := user.Expect(ctx, http.MethodGet, "/api/orders/"+o.ID+"/details", nil, http.StatusOK, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Data.Payments) != 1 || d.Data.Payments[0].Status != "refunded" {
		t.Errorf("payments of the unpaid order %+v, want its charge refunded", d.Data.Payments)
	}
	waitNotifications(t, user, o.ID, "order.cancelled", "order.created")
}

// catalogStock returns the stock of every product, as the catalog shows
// it to user.
func catalogStock(t *testing.T, user *shoptest.Client) map[string]int64 {
	t.Helper()
	var ps []shoptest.Product
	if err := user.Expect(t.Context(), http.MethodGet, "/api/products", nil, http.StatusOK, &ps); err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, p := range ps {
		m[p.ID] = p.Stock
	}
	return m
}

// story places an order that is confirmed, in a trace the test starts
// and every process it crosses continues, and one that is declined, and
// checks their notifications and the stock.
func (c *cluster) story(user *shoptest.Client) {
	t := c.t
	t.Helper()
	ctx := t.Context()
	stock := func() map[string]int64 { return catalogStock(t, user) }
	before := stock()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traced := *user
	traced.Header = http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}
	r, err := traced.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-keyboard", Quantity: 1})
	var o shoptest.Order
	if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" && o.Status != "shipped" {
		t.Fatalf("order: %v %d %s", err, r.Status, r.Body)
	}
	if o = waitOrder(t, user, o.ID, "shipped"); o.TrackingNumber == "" {
		t.Fatalf("shipped order %+v has no tracking number", o)
	}
	waitNotifications(t, user, o.ID, "order.confirmed", "order.created", "order.shipped")
	c.expectTrace(traceID)
	r, err = user.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-laptop", Quantity: 1})
	if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "cancelled" {
		t.Fatalf("declined order: %v %d %s", err, r.Status, r.Body)
	}
	waitNotifications(t, user, o.ID, "order.cancelled", "order.created")
	if after := stock(); after["p-keyboard"] != before["p-keyboard"]-1 || after["p-laptop"] != before["p-laptop"] {
		t.Fatalf("stock %v after one keyboard and a declined laptop, was %v", after, before)
	}
}

func TestShopClusterCrash(t *testing.T) {
	c := newCluster(t, clusterConfig{extra: map[string][]string{shop.Order: {"-ship-after", "500ms"}}})
	c.startAll(1)
	ctx := t.Context()
	user := &shoptest.Client{Base: c.gateway, HTTP: &http.Client{Timeout: 40 * time.Second}}
	warmUp(t, user)
	stock := func() map[string]int64 { return catalogStock(t, user) }
	c.story(user)

	// A burst of orders, the order-service SIGKILLed in the middle of it and
	// restarted. Each client retries its order (same id) until it is
	// answered: the order id makes the retry idempotent.
	before := stock()
	const n, workers = 40, 8
	ids := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered, pending := 0, 0
	killed := make(chan struct{})
	orderIDs := make([]string, n)
	items := make([]shoptest.Item, n)
	for i := range n {
		orderIDs[i] = fmt.Sprintf("burst-%02d", i)
		switch i % 5 {
		case 4:
			items[i] = shoptest.Item{ProductID: "p-laptop", Quantity: 1} // declined
		case 1, 3:
			items[i] = shoptest.Item{ProductID: "p-mouse", Quantity: int64(1 + i%3)}
		default:
			items[i] = shoptest.Item{ProductID: "p-keyboard", Quantity: 1}
		}
	}
	deadline, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for range workers {
		wg.Go(func() {
			for i := range ids {
				for {
					r, err := user.PlaceOrder(deadline, orderIDs[i], items[i])
					if err == nil && (r.Status == http.StatusCreated || r.Status == http.StatusOK) {
						var o shoptest.Order
						if r.Decode(&o) == nil && o.Status == "pending" {
							// A retry found the order the killed process
							// left mid-saga: recovery must finish it.
							mu.Lock()
							pending++
							mu.Unlock()
						}
						break
					}
					if deadline.Err() != nil {
						t.Errorf("order %s never answered: %v %d %s", orderIDs[i], err, r.Status, r.Body)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				mu.Lock()
				answered++
				mu.Unlock()
			}
		})
	}
	go func() {
		defer close(killed)
		for {
			mu.Lock()
			a := answered
			mu.Unlock()
			if a >= n/4 {
				c.kill(shop.Order)
				t.Logf("order-service SIGKILLed after %d of %d orders were answered", a, n)
				c.start(shop.Order)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	<-killed
	if t.Failed() {
		t.FailNow()
	}

	// Every order ends shipped (paid, then shipped by the warehouse) or
	// cancelled, the sagas parked when the order-service died included;
	// stock and payments agree.
	want := map[string]int64{}
	for i, id := range orderIDs {
		var d details
		err := shoptest.Eventually(waitCtx(t), 100*time.Millisecond, func() error {
			if err := user.Expect(ctx, http.MethodGet, "/api/orders/"+id+"/details", nil, http.StatusOK, &d); err != nil {
				return err
			}
			if s := d.Data.Order.Status; s != "shipped" && s != "cancelled" {
				return fmt.Errorf("order %s is %s", id, s)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		charged := 0
		for _, p := range d.Data.Payments {
			if p.Status == "charged" {
				charged++
			}
		}
		confirmed := d.Data.Order.Status == "shipped"
		if confirmed {
			want[items[i].ProductID] += items[i].Quantity
		}
		if confirmed && charged != 1 || !confirmed && charged != 0 {
			t.Errorf("order %s is %s with %d charges: %+v", id, d.Data.Order.Status, charged, d.Data.Payments)
		}
		if (items[i].ProductID == "p-laptop") == confirmed {
			t.Errorf("order %s of %s ended %s (%s)", id, items[i].ProductID, d.Data.Order.Status, d.Data.Order.Reason)
		}
		if confirmed {
			waitNotifications(t, user, id, "order.confirmed", "order.created", "order.shipped")
		} else {
			waitNotifications(t, user, id, "order.cancelled", "order.created")
		}
	}
	t.Logf("burst: %d orders, %d of them answered pending after the crash, confirmed quantities %v", n, pending, want)
	after := stock()
	for p, q := range before {
		if after[p] != q-want[p] {
			t.Errorf("%s stock %d, want %d - %d confirmed", p, after[p], q, want[p])
		}
	}

	// Across processes too, payment faults open the order-service's breaker
	// and orders fail fast. It trips on a failure rate over the last 10 s,
	// which still holds the burst's successes (some fifty calls): each
	// failing order adds one failed charge, so a hundred outweigh them.
	if err := adminClient(t, c.gateway).Expect(ctx, http.MethodPut, "/api/admin/payment-faults", map[string]any{"error_rate": 1}, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatalf("the breaker did not open after %d failing orders", i)
		}
		r, err := user.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusServiceUnavailable && r.ErrorCode() == "payment_unavailable" {
			break
		}
		var o shoptest.Order
		if err := r.Decode(&o); err != nil || r.Status != http.StatusCreated || o.Status != "cancelled" {
			t.Fatalf("order %d under faults: %d %s, want 201 cancelled or 503 payment_unavailable", i, r.Status, r.Body)
		}
	}
}
