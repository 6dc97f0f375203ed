package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/internal/memhttp"
)

// fleetToken is what an instance's console takes from the aggregate.
const fleetToken = "Bearer fleet-token"

// instanceAuth is the Authorize of an instance's console: it takes the
// fleet's token only, and names the operator the aggregate asks for.
func instanceAuth(r *http.Request) (console.Operator, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return console.Operator{}, console.ErrUnauthenticated
	case fleetToken:
		return console.Operator{Name: "aggregate for " + r.Header.Get("X-On-Behalf-Of")}, nil
	}
	return console.Operator{}, errors.New("unknown token")
}

// withFleetToken is the aggregate's WithInstanceRequest: the fleet's token
// and the operator it authorized.
func withFleetToken(r *http.Request) {
	r.Header.Set("Authorization", fleetToken)
	if op, ok := console.OperatorFromContext(r.Context()); ok {
		r.Header.Set("X-On-Behalf-Of", op.Name)
	}
}

// instanceConsole returns a console of an instance at path showing
// breakers of the given names, those in open forced open.
func instanceConsole(t *testing.T, path string, closed, open []string, opts ...console.Option) (*console.Console, map[string]*breaker.Breaker) {
	t.Helper()
	c, err := console.New(instanceAuth, append([]console.Option{console.WithPath(path)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	bs := make(map[string]*breaker.Breaker)
	for _, name := range append(closed, open...) {
		b, err := breaker.New(name, breaker.WithListener(c.BreakerListener()))
		if err != nil {
			t.Fatal(err)
		}
		c.AddBreakers(b)
		bs[name] = b
	}
	for _, name := range open {
		bs[name].ForceOpen(t.Context())
	}
	return c, bs
}

// instance is a registry entry of service at host:port; console "" is
// an instance that announces none.
func instance(id, service, host string, port int, consolePath string) discovery.Instance {
	in := discovery.Instance{ID: id, Service: service, Address: host, Port: port}
	if consolePath != "" {
		in.Meta = map[string]string{console.MetaKey: consolePath}
	}
	return in
}

// registry returns a memory registry of instances.
func registry(t *testing.T, instances ...discovery.Instance) *discovery.Memory {
	t.Helper()
	reg, err := discovery.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	for _, in := range instances {
		if err := reg.Register(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func newAggregate(t *testing.T, reg console.InstanceSource, opts ...console.AggregateOption) *console.Aggregate {
	t.Helper()
	a, err := console.NewAggregate(byHeader, reg, append([]console.AggregateOption{
		console.WithConsoleOptions(console.WithPath("/fleet/")), console.WithInstanceRequest(withFleetToken)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// stalled never answers: it waits until the request is given up.
var stalled = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

// broken answers every request 500, as a console whose service is failing.
var broken = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	gateway.WriteError(w, r, http.StatusInternalServerError, gateway.CodeInternal, "database down")
})

func answers[T any](v console.Aggregated[T]) map[string]console.InstanceAnswer[T] {
	m := make(map[string]console.InstanceAnswer[T])
	for _, a := range v.Instances {
		m[a.ID] = a
	}
	return m
}

// Four instances of two services, one stalled past the timeout and one
// answering 500: every page shows all four, marks those two, and sums
// the attention of each service over the instances that answered. An
// instance that announces no console is left out.
func TestAggregateShowsEveryInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		orders, _ := instanceConsole(t, "/console/", []string{"stock"}, []string{"payments"})
		orders.AddResolver("http", resolverStub{"stock": {Instances: []discovery.Instance{{ID: "s-1", Service: "stock", Address: "10.0.0.9", Port: 80}}}})
		payments, _ := instanceConsole(t, "/ops/", nil, []string{"bank", "fraud"})
		reg := registry(t,
			instance("orders-1", "orders", "orders-1.test", 80, "/console/"),
			instance("orders-2", "orders", "orders-2.test", 80, "/console/"),
			instance("payments-1", "payments", "payments-1.test", 80, "/ops/"),
			instance("payments-2", "payments", "payments-2.test", 80, "/ops/"),
			instance("mailer-1", "mailer", "mailer-1.test", 80, ""))
		hosts := memhttp.Hosts{"orders-1.test:80": orders, "orders-2.test:80": stalled,
			"payments-1.test:80": payments, "payments-2.test:80": broken}
		a := newAggregate(t, reg, console.WithHTTPClient(&http.Client{Transport: hosts}))
		ada := client{t, a, "ada"}

		start := time.Now()
		var ov console.AggregateOverview
		ada.json("/fleet/api/", &ov)
		if took := time.Since(start); took != console.DefaultInstanceTimeout {
			t.Errorf("the overview took %v, want one instance timeout: the consoles are read at once", took)
		}
		if len(ov.Services) != 2 || ov.Attention != 3 || ov.Unanswered != 2 || len(ov.RegistryErrors) != 0 {
			t.Fatalf("overview: %+v, want 2 services, attention 3, 2 unanswered", ov)
		}
		for i, want := range []struct {
			service          string
			attention        int64
			ids              []string
			reaches          []console.Reach
			statuses         []int
			errorHas         []string
			instanceAttended []int64
		}{
			{"orders", 1, []string{"orders-1", "orders-2"}, []console.Reach{console.ReachAnswered, console.ReachTimedOut},
				[]int{200, 0}, []string{"", "no answer within 2s"}, []int64{1, 0}},
			{"payments", 2, []string{"payments-1", "payments-2"}, []console.Reach{console.ReachAnswered, console.ReachFailed},
				[]int{200, 500}, []string{"", "database down"}, []int64{2, 0}},
		} {
			s := ov.Services[i]
			if s.Service != want.service || s.Attention != want.attention || s.Unanswered != 1 || len(s.Instances) != 2 {
				t.Fatalf("service %d: %+v, want %s with attention %d", i, s, want.service, want.attention)
			}
			for j, in := range s.Instances {
				if in.ID != want.ids[j] || in.Reach != want.reaches[j] || in.Status != want.statuses[j] ||
					!strings.Contains(in.Error, want.errorHas[j]) || (want.errorHas[j] == "") != (in.Error == "") ||
					in.Link != "/fleet/instances/"+want.ids[j]+"/" {
					t.Errorf("%s: %+v, want %v %d %q", want.ids[j], in, want.reaches[j], want.statuses[j], want.errorHas[j])
				}
				if (in.View != nil) != (in.Reach == console.ReachAnswered) || (in.View != nil && in.View.Attention != want.instanceAttended[j]) {
					t.Errorf("%s: view %+v", in.ID, in.View)
				}
			}
		}

		page := ada.do(http.MethodGet, "/fleet/", nil).Body.String()
		for _, want := range []string{"orders-1", "orders-2", "payments-1", "payments-2", "timed-out", "no answer within 2s",
			"database down", `href="/fleet/instances/payments-1/"`, `href="/fleet/breakers"`, "needs attention: 2"} {
			if !strings.Contains(page, want) {
				t.Errorf("overview page lacks %q", want)
			}
		}
		if strings.Contains(page, "mailer") || strings.Contains(strings.ToLower(page), "<script") {
			t.Error("overview page shows the instance without a console, or a script")
		}

		var bv console.Aggregated[console.BreakersView]
		ada.json("/fleet/api/breakers", &bv)
		got := answers(bv)
		if bv.View != "breakers" || len(bv.Instances) != 4 || bv.Unanswered != 2 ||
			got["orders-1"].View.Open != 1 || got["payments-1"].View.Open != 2 || got["payments-1"].View.Breakers[0].Name != "bank" ||
			got["orders-2"].Reach != console.ReachTimedOut || got["payments-2"].Status != 500 {
			t.Fatalf("breakers: %+v", bv)
		}
		page = ada.do(http.MethodGet, "/fleet/breakers", nil).Body.String()
		for _, want := range []string{"payments-1", "fraud", `class="state st-forced-open"`, "no answer within 2s", "database down",
			`action="/fleet/instances/payments-1/actions/breaker-reset"`, `action="/fleet/instances/orders-1/actions/breaker-force-open"`,
			`href="/fleet/api/breakers"`, `aria-current="page">Breakers`} {
			if !strings.Contains(page, want) {
				t.Errorf("breakers page lacks %q", want)
			}
		}

		var dv console.Aggregated[console.DiscoveryView]
		ada.json("/fleet/api/discovery", &dv)
		if d := answers(dv)["orders-1"].View; d == nil || len(d.Services) != 1 || d.Services[0].Instances[0].Address != "10.0.0.9:80" {
			t.Fatalf("discovery: %+v", dv)
		}
		if page := ada.do(http.MethodGet, "/fleet/discovery", nil).Body.String(); !strings.Contains(page, "10.0.0.9:80") {
			t.Errorf("discovery page lacks orders-1's resolver: %s", page)
		}
		var obv console.Aggregated[console.OutboxesView]
		ada.json("/fleet/api/outbox", &obv)
		if o := answers(obv)["payments-1"].View; o == nil || o.Outboxes == nil || obv.Unanswered != 2 {
			t.Fatalf("outbox: %+v", obv)
		}
		if w := ada.do(http.MethodGet, "/fleet/outbox", nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "No outboxes are registered.") {
			t.Fatalf("outbox page: %d %s", w.Code, w.Body)
		}

		// No console here has a dead-letter store: those that answer say
		// so, and are not counted as unanswered.
		var dl console.Aggregated[json.RawMessage]
		ada.json("/fleet/api/deadletters", &dl)
		if got := answers(dl); got["orders-1"].Reach != console.ReachAbsent || got["payments-1"].Reach != console.ReachAbsent ||
			got["orders-2"].Reach != console.ReachTimedOut || dl.Unanswered != 2 {
			t.Fatalf("dead letters: %+v", dl)
		}

		// One instance's pages through the aggregate: the stalled one's
		// is a gateway timeout, the failing one's its own answer.
		for path, want := range map[string]int{"/fleet/instances/orders-2/breakers": http.StatusGatewayTimeout,
			"/fleet/instances/payments-2/api/breakers": http.StatusInternalServerError, "/fleet/instances/payments-1/breakers": http.StatusOK} {
			if w := ada.do(http.MethodGet, path, nil); w.Code != want {
				t.Errorf("GET %s: %d, want %d", path, w.Code, want)
			}
		}
	})
}

// A view the aggregate has no template for is shown as each instance's
// document, with a link to the instance's own page of it, the query of
// the aggregate's page passed on to each; an instance that has no such
// view is shown as having none, and a view no console has is not found.
func TestAggregateOtherViews(t *testing.T) {
	jobs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/console/api/jobs" {
			gateway.WriteError(w, r, http.StatusNotFound, gateway.CodeNotFound, "no such page")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jobs":[{"id":"order-7","state":"` + r.URL.Query().Get("state") + `"}]}`))
	})
	without, _ := instanceConsole(t, "/console/", []string{"stock"}, nil)
	reg := registry(t, instance("orders-1", "orders", "orders-1.test", 80, "/console/"),
		instance("payments-1", "payments", "payments-1.test", 80, "/console/"))
	a := newAggregate(t, reg, console.WithHTTPClient(&http.Client{Transport: memhttp.Hosts{"orders-1.test:80": jobs, "payments-1.test:80": without}}))
	ada := client{t, a, "ada"}

	var v console.Aggregated[json.RawMessage]
	ada.json("/fleet/api/jobs?state=compensating", &v)
	got := answers(v)
	if len(v.Instances) != 2 || v.Unanswered != 0 || got["orders-1"].View == nil ||
		!strings.Contains(string(*got["orders-1"].View), `"compensating"`) ||
		got["payments-1"].Reach != console.ReachAbsent || got["payments-1"].Status != http.StatusNotFound {
		t.Fatalf("jobs: %+v", v)
	}
	page := ada.do(http.MethodGet, "/fleet/jobs?state=compensating", nil).Body.String()
	for _, want := range []string{"compensating", `href="/fleet/instances/orders-1/jobs?state=compensating"`, "&#34;order-7&#34;", "none here"} {
		if !strings.Contains(page, want) {
			t.Errorf("jobs page lacks %q: %s", want, page)
		}
	}
	for _, path := range []string{"/fleet/nothing", "/fleet/api/nothing", "/fleet/Bad_Name", "/fleet/instances", "/fleet/api/api"} {
		if w := ada.do(http.MethodGet, path, nil); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
}

// JSON that is no console's view, from something that answers at an
// announced console path, fails that instance.
func TestAggregateAnswersOfAnotherShape(t *testing.T) {
	odd := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":"many","breakers":"some"}`))
	})
	reg := registry(t, instance("odd-1", "odd", "odd-1.test", 80, "/console/"))
	ada := client{t, newAggregate(t, reg, console.WithHTTPClient(&http.Client{Transport: memhttp.Hosts{"odd-1.test:80": odd}})), "ada"}
	var ov console.AggregateOverview
	ada.json("/fleet/api/", &ov)
	if in := ov.Services[0].Instances[0]; in.Reach != console.ReachFailed || !strings.Contains(in.Error, "no console overview") || ov.Unanswered != 1 {
		t.Fatalf("overview: %+v", ov)
	}
	page := ada.do(http.MethodGet, "/fleet/breakers", nil).Body.String()
	if !strings.Contains(page, "no console breakers") || !strings.Contains(page, "1 of 1 instances did not answer") {
		t.Fatalf("breakers page: %s", page)
	}
}

// The aggregate has at most WithParallelFetches requests in flight, and
// an instance's timeout starts once its request has a slot.
func TestAggregateBoundsParallelFetches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inFlight, most := 0, 0
		slow, _ := instanceConsole(t, "/console/", nil, nil)
		counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			inFlight--
			mu.Unlock()
			slow.ServeHTTP(w, r)
		})
		hosts := memhttp.Hosts{}
		var instances []discovery.Instance
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			instances = append(instances, instance(id, "orders", id+".test", 80, "/console/"))
			hosts[id+".test:80"] = counting
		}
		a := newAggregate(t, registry(t, instances...), console.WithHTTPClient(&http.Client{Transport: hosts}),
			console.WithParallelFetches(2), console.WithInstanceTimeout(1500*time.Millisecond))
		start := time.Now()
		var ov console.AggregateOverview
		client{t, a, "ada"}.json("/fleet/api/", &ov)
		if most != 2 || ov.Unanswered != 0 || len(ov.Services[0].Instances) != 5 {
			t.Fatalf("%d in flight at most, overview %+v; want 2 and every instance answered", most, ov)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Fatalf("took %v, want three rounds of one second", took)
		}
	})
}

// onlyInstances is a registry that cannot name its services.
type onlyInstances struct{ reg *discovery.Memory }

func (o onlyInstances) Instances(ctx context.Context, service string) ([]discovery.Instance, error) {
	if service == "broken" {
		return nil, errors.New("registry unreachable")
	}
	return o.reg.Instances(ctx, service)
}

// failingLister is a registry whose list of services cannot be read.
type failingLister struct{ onlyInstances }

func (failingLister) Services(context.Context) ([]string, error) {
	return nil, errors.New("catalog unreachable")
}

// With a registry that names no services, WithServices names them; a
// registry that fails is shown as such, with what it did answer.
func TestAggregateRegistry(t *testing.T) {
	orders, _ := instanceConsole(t, "/console/", []string{"stock"}, nil)
	mem := registry(t, instance("orders-1", "orders", "orders-1.test", 80, "/console/"),
		instance("payments-1", "payments", "payments-1.test", 80, "/console/"))
	hc := console.WithHTTPClient(&http.Client{Transport: memhttp.Hosts{"orders-1.test:80": orders, "payments-1.test:80": orders}})

	if _, err := console.NewAggregate(byHeader, onlyInstances{mem}); !errors.Is(err, console.ErrInvalidOption) {
		t.Fatalf("a registry that names no services, without WithServices: %v", err)
	}
	a := newAggregate(t, onlyInstances{mem}, hc, console.WithServices("orders", "broken", "orders"))
	var ov console.AggregateOverview
	client{t, a, "ada"}.json("/fleet/api/", &ov)
	if len(ov.Services) != 1 || ov.Services[0].Service != "orders" || len(ov.Services[0].Instances) != 1 ||
		len(ov.RegistryErrors) != 1 || !strings.Contains(ov.RegistryErrors[0], "broken: registry unreachable") {
		t.Fatalf("overview: %+v, want orders only and broken's error", ov)
	}
	if page := (client{t, a, "ada"}).do(http.MethodGet, "/fleet/breakers", nil).Body.String(); !strings.Contains(page, "broken: registry unreachable") {
		t.Errorf("breakers page without the registry's error: %s", page)
	}

	a = newAggregate(t, failingLister{onlyInstances{mem}}, hc)
	ov = console.AggregateOverview{}
	client{t, a, "ada"}.json("/fleet/api/", &ov)
	if len(ov.Services) != 0 || len(ov.RegistryErrors) != 1 || !strings.Contains(ov.RegistryErrors[0], "catalog unreachable") {
		t.Fatalf("overview of an unreachable catalog: %+v", ov)
	}
}

func TestNewAggregateOptions(t *testing.T) {
	reg := registry(t)
	for name, tc := range map[string]struct {
		auth console.Authorize
		reg  console.InstanceSource
		opts []console.AggregateOption
	}{
		"no authorize":        {nil, reg, nil},
		"no registry":         {byHeader, nil, nil},
		"bad console path":    {byHeader, reg, []console.AggregateOption{console.WithConsoleOptions(console.WithPath("fleet"))}},
		"no services named":   {byHeader, reg, []console.AggregateOption{console.WithServices()}},
		"empty service name":  {byHeader, reg, []console.AggregateOption{console.WithServices("orders", "")}},
		"zero timeout":        {byHeader, reg, []console.AggregateOption{console.WithInstanceTimeout(0)}},
		"no parallel fetches": {byHeader, reg, []console.AggregateOption{console.WithParallelFetches(0)}},
		"nil client":          {byHeader, reg, []console.AggregateOption{console.WithHTTPClient(nil)}},
		"nil request hook":    {byHeader, reg, []console.AggregateOption{console.WithInstanceRequest(nil)}},
		"ftp":                 {byHeader, reg, []console.AggregateOption{console.WithInstanceScheme("ftp")}},
		"no bytes":            {byHeader, reg, []console.AggregateOption{console.WithMaxResponseBytes(0)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := console.NewAggregate(tc.auth, tc.reg, tc.opts...); !errors.Is(err, console.ErrInvalidOption) {
				t.Fatalf("NewAggregate: %v, want ErrInvalidOption", err)
			}
		})
	}
	a, err := console.NewAggregate(byHeader, reg, nil, console.WithInstanceScheme("https"))
	if err != nil || a.Path() != "/console/" {
		t.Fatalf("defaults: %v, path %q", err, a.Path())
	}
}

// The aggregate authorizes every request as a console does, pages, JSON
// and proxied pages alike.
func TestAggregateAuthorization(t *testing.T) {
	orders, _ := instanceConsole(t, "/console/", []string{"stock"}, nil)
	reg := registry(t, instance("orders-1", "orders", "orders-1.test", 80, "/console/"))
	a := newAggregate(t, reg, console.WithHTTPClient(&http.Client{Transport: memhttp.Hosts{"orders-1.test:80": orders}}))
	checkAccess(t, a, "/fleet/api/", []access{
		{"", "/fleet/api/", http.StatusUnauthorized},
		{"", "/fleet/", http.StatusUnauthorized},
		{"", "/fleet/instances/orders-1/breakers", http.StatusUnauthorized},
		{"mallory", "/fleet/api/breakers", http.StatusForbidden},
		{"mallory", "/fleet/instances/orders-1/api/breakers", http.StatusForbidden},
		{"ada", "/fleet/api/", http.StatusOK},
		{"ada", "/fleet/", http.StatusOK},
		{"ada", "/fleet/instances/orders-1/api/breakers", http.StatusOK},
		{"ada", "/fleet/assets/console.css", http.StatusOK},
		{"ada", "/elsewhere/", http.StatusNotFound},
	})
}

// access is a GET by an operator, and the status it must get.
type access struct {
	operator, path string
	status         int
}

// checkAccess makes each GET of cases to h. A refusal below api, the
// console's JSON, must have the toolkit's error shape; a refusal of
// anything else, a proxied document included, is a page.
func checkAccess(t *testing.T, h http.Handler, api string, cases []access) {
	t.Helper()
	for _, tc := range cases {
		w := client{t, h, tc.operator}.do(http.MethodGet, tc.path, nil)
		if w.Code != tc.status {
			t.Errorf("%q GET %s: %d, want %d", tc.operator, tc.path, w.Code, tc.status)
			continue
		}
		if tc.status != http.StatusOK && strings.HasPrefix(tc.path, api) {
			var body gateway.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Status != tc.status {
				t.Errorf("%q GET %s: body %s, want the error shape", tc.operator, tc.path, w.Body)
			}
		}
	}
}
