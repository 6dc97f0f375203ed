package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/internal/httppool"
)

// MetaKey is the key of discovery.Instance.Meta under which a service
// announces its console: the path the console is mounted at, as
// Console.Path returns it (e.g. "/console/"). An Aggregate shows every
// instance that announces one and leaves out those that do not:
//
//	in.Meta = map[string]string{console.MetaKey: c.Path()}
//	announcement, err := discovery.Announce(ctx, reg, in)
const MetaKey = "console"

// Defaults of an Aggregate's options.
const (
	// DefaultInstanceTimeout bounds each request to an instance's console
	// (and each read of the registry): see WithInstanceTimeout.
	DefaultInstanceTimeout = 2 * time.Second
	// DefaultParallelFetches is how many requests an Aggregate has in
	// flight at most: see WithParallelFetches.
	DefaultParallelFetches = 8
	// DefaultMaxResponseBytes bounds the answer of an instance's console:
	// see WithMaxResponseBytes.
	DefaultMaxResponseBytes = 4 << 20
)

// InstanceSource is what an Aggregate reads of a service registry: the
// healthy instances of a service, as every discovery.Instancer gives them.
// A registry that is also a discovery.ServiceLister (discovery.Memory,
// discovery.Static, the Consul adapter) names the services as well; with
// any other, WithServices names them.
type InstanceSource interface {
	// Instances returns the healthy instances of service.
	Instances(ctx context.Context, service string) ([]discovery.Instance, error)
}

// AggregateOption configures an Aggregate.
type AggregateOption func(*Aggregate) error

// WithConsoleOptions applies console options to the aggregate's own
// pages: WithPath (the default is "/console/"), WithTitle (the default is
// "microkit aggregated console"), WithReadOnly (no action is proxied to
// any instance), WithLogger and WithTrustedOrigin.
func WithConsoleOptions(opts ...Option) AggregateOption {
	return func(a *Aggregate) error {
		a.consoleOpts = append(a.consoleOpts, opts...)
		return nil
	}
}

// WithServices names the services the aggregate shows, instead of every
// service the registry names. It is required with a registry that is no
// discovery.ServiceLister.
func WithServices(names ...string) AggregateOption {
	return func(a *Aggregate) error {
		if len(names) == 0 {
			return fmt.Errorf("%w: WithServices names no service", ErrInvalidOption)
		}
		for _, n := range names {
			if n == "" {
				return fmt.Errorf("%w: an empty service name", ErrInvalidOption)
			}
		}
		a.named = append(a.named, names...)
		return nil
	}
}

// WithInstanceTimeout bounds each request to an instance's console, the
// reads behind a page and the proxied pages and actions alike, and each
// read of the registry; the default is DefaultInstanceTimeout. An
// instance that does not answer in time is shown as timed out, the others
// as they answered. It must be positive.
func WithInstanceTimeout(d time.Duration) AggregateOption {
	return func(a *Aggregate) error {
		if d <= 0 {
			return fmt.Errorf("%w: instance timeout %v", ErrInvalidOption, d)
		}
		a.timeout = d
		return nil
	}
}

// WithParallelFetches bounds how many requests the aggregate has in
// flight at once, to instances and to the registry, across every page
// being served; the default is DefaultParallelFetches. A request waits
// for a free slot before its timeout starts. It must be at least 1.
func WithParallelFetches(n int) AggregateOption {
	return func(a *Aggregate) error {
		if n < 1 {
			return fmt.Errorf("%w: %d parallel fetches", ErrInvalidOption, n)
		}
		a.parallel = n
		return nil
	}
}

// WithHTTPClient sets the client that reaches the instances' consoles,
// e.g. one with the TLS settings of a mesh; the default has the toolkit's
// pooled transport. The aggregate uses a copy that follows no redirect,
// whatever the client's CheckRedirect: a console never redirects, and
// following one would let an instance send the aggregate, credentials and
// all, anywhere.
func WithHTTPClient(c *http.Client) AggregateOption {
	return func(a *Aggregate) error {
		if c == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrInvalidOption)
		}
		a.client = c
		return nil
	}
}

// WithInstanceRequest sets a function that prepares every request to an
// instance's console just before it is sent: each console authorizes on
// its own, so this is where the aggregate's credentials go (a header, a
// token). The request's context carries the operator the aggregate
// authorized (OperatorFromContext), for a function that passes on who
// asks, so that the instance's audit log names the person. The
// credentials go to every instance the registry lists with a console, so
// whoever may register in the registry may receive them: give the
// aggregate credentials good for the consoles only, or authenticate the
// instances too (a client with mutual TLS, WithHTTPClient).
func WithInstanceRequest(prepare func(*http.Request)) AggregateOption {
	return func(a *Aggregate) error {
		if prepare == nil {
			return fmt.Errorf("%w: nil instance request function", ErrInvalidOption)
		}
		a.prepare = prepare
		return nil
	}
}

// WithInstanceScheme sets the scheme of the instances' consoles, "http"
// (the default) or "https".
func WithInstanceScheme(scheme string) AggregateOption {
	return func(a *Aggregate) error {
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("%w: instance scheme %q", ErrInvalidOption, scheme)
		}
		a.scheme = scheme
		return nil
	}
}

// WithMaxResponseBytes bounds the answer the aggregate reads from an
// instance's console, a JSON document or a proxied page; a longer one
// counts as failed. The default is DefaultMaxResponseBytes; it must be
// positive.
func WithMaxResponseBytes(n int64) AggregateOption {
	return func(a *Aggregate) error {
		if n <= 0 {
			return fmt.Errorf("%w: max response bytes %d", ErrInvalidOption, n)
		}
		a.maxBytes = n
		return nil
	}
}

// Aggregate is the console of a fleet: it finds every instance of every
// service through the registry, reads the consoles of those that
// announce one (MetaKey) and shows them together, an instance that does
// not answer marked as such beside the others. Its pages are the
// console's: the overview (each instance's items, attention summed per
// service) at its path, each view ("breakers", "discovery", "outbox",
// and any other a console serves) at <path><view>, and each as JSON
// under <path>api/. One instance's own console is at
// <path>instances/<id>/, through the aggregate, actions included.
//
// An Aggregate is safe for concurrent use. It keeps nothing between
// requests: each page reads the registry and the consoles anew.
type Aggregate struct {
	frame       *Console // the aggregate's own pages: authorization, layout, errors
	reg         InstanceSource
	named       []string
	consoleOpts []Option
	client      *http.Client
	prepare     func(*http.Request)
	timeout     time.Duration
	parallel    int
	scheme      string
	maxBytes    int64
	slots       chan struct{} // one per request in flight
}

// NewAggregate returns the aggregated console of the services reg holds.
// authorize decides who may use the aggregate, as for a Console: there is
// no open default. Each instance's console still authorizes the
// aggregate's requests on its own (see WithInstanceRequest), and confirms
// and audits the actions proxied to it.
func NewAggregate(authorize Authorize, reg InstanceSource, opts ...AggregateOption) (*Aggregate, error) {
	if reg == nil {
		return nil, fmt.Errorf("console: new aggregate: %w: nil registry", ErrInvalidOption)
	}
	a := &Aggregate{
		reg:      reg,
		timeout:  DefaultInstanceTimeout,
		parallel: DefaultParallelFetches,
		scheme:   "http",
		maxBytes: DefaultMaxResponseBytes,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(a); err != nil {
			return nil, fmt.Errorf("console: new aggregate: %w", err)
		}
	}
	slices.Sort(a.named)
	a.named = slices.Compact(a.named)
	if _, ok := reg.(discovery.ServiceLister); !ok && a.named == nil {
		return nil, fmt.Errorf("console: new aggregate: %w: the registry names no services (it is no discovery.ServiceLister): name them with WithServices", ErrInvalidOption)
	}
	frame, err := New(authorize, append([]Option{WithTitle("microkit aggregated console")}, a.consoleOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("console: new aggregate: %w", err)
	}
	a.frame = frame
	a.client = noRedirects(a.client)
	a.slots = make(chan struct{}, a.parallel)

	p := frame.path
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"assets/console.css", serveCSS)
	mux.HandleFunc("GET "+p+"{$}", a.overviewPage)
	mux.HandleFunc("GET "+p+"api/{$}", a.overviewAPI)
	mux.HandleFunc("GET "+p+"{view}", a.viewPage)
	mux.HandleFunc("GET "+p+"api/{view}", a.viewAPI)
	mux.HandleFunc("GET "+p+"instances/{id}/{rest...}", a.proxy)
	mux.HandleFunc("POST "+p+"instances/{id}/{rest...}", a.proxy)
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		frame.fail(w, r, http.StatusNotFound, gateway.CodeNotFound, "no such page")
	})
	// The frame authorizes, sets the headers and refuses cross-origin
	// POSTs as a console does, then serves the aggregate's routes.
	frame.handler = frame.cop.Handler(mux)
	return a, nil
}

// noRedirects returns a copy of c, or of the default client when c is
// nil, that follows no redirect.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Transport = httppool.NewTransport()
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// Path returns the path the aggregate answers below.
func (a *Aggregate) Path() string { return a.frame.path }

// ServeHTTP authorizes the request, then serves the aggregated page, JSON
// document, or instance page or action it asks for.
func (a *Aggregate) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.frame.ServeHTTP(w, r) }

// viewName is what a view's name may be: a path segment of the console's
// own making, never a way elsewhere.
var viewName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// reserved are the names below the aggregate's path that are no view.
var reserved = map[string]bool{"api": true, "actions": true, "assets": true, "instances": true}

// title is the navigation's title of the view name, or the name.
func (a *Aggregate) title(name string) string {
	for _, v := range a.frame.views {
		if v.name == name {
			return v.title
		}
	}
	return name
}

func (a *Aggregate) overviewPage(w http.ResponseWriter, r *http.Request) {
	a.frame.renderTemplate(w, r, http.StatusOK, "aggregate-overview", "", "Overview", a.readOverview(r.Context()))
}

func (a *Aggregate) overviewAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.readOverview(r.Context()))
}

// viewPage serves the aggregated page of a view, viewAPI its JSON.
func (a *Aggregate) viewPage(w http.ResponseWriter, r *http.Request) {
	if name, v, ok := a.readRequested(w, r); ok {
		a.frame.renderTemplate(w, r, http.StatusOK, "aggregate-view", name, a.title(name), a.sections(r, v))
	}
}

func (a *Aggregate) viewAPI(w http.ResponseWriter, r *http.Request) {
	if _, v, ok := a.readRequested(w, r); ok {
		writeJSON(w, http.StatusOK, v)
	}
}

// readRequested reads the view the request names of every instance, or
// answers 404 for a name that is no view, or that every console answered
// it does not have.
func (a *Aggregate) readRequested(w http.ResponseWriter, r *http.Request) (string, Aggregated[json.RawMessage], bool) {
	name := r.PathValue("view")
	if !viewName.MatchString(name) || reserved[name] {
		a.frame.fail(w, r, http.StatusNotFound, gateway.CodeNotFound, "no such view")
		return "", Aggregated[json.RawMessage]{}, false
	}
	v := a.readView(r.Context(), name, r.URL.RawQuery)
	if unknownView(v) {
		a.frame.fail(w, r, http.StatusNotFound, gateway.CodeNotFound, "no console has a view "+name)
		return "", Aggregated[json.RawMessage]{}, false
	}
	return name, v, true
}
