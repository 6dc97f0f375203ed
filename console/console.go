package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// Errors of the package.
var (
	// ErrInvalidOption is wrapped by New's errors: a nil Authorize, a bad
	// option.
	ErrInvalidOption = errors.New("console: invalid option")
	// ErrUnauthenticated is what an Authorize function returns (or wraps)
	// for a request that carries no credentials: the console answers 401.
	// Any other error of Authorize is answered 403.
	ErrUnauthenticated = errors.New("console: unauthenticated")
)

// Operator is the person (or script) a request comes from, as the
// Authorize function established it.
type Operator struct {
	// Name identifies the operator in the audit log; it must not be empty.
	Name string
	// ReadOnly forbids this operator the console's actions.
	ReadOnly bool
}

// Authorize decides who makes a request. It returns the operator, or an
// error to refuse the request: one wrapping ErrUnauthenticated is answered
// 401, any other 403. It runs on every request to the console, pages and
// JSON alike.
type Authorize func(r *http.Request) (Operator, error)

// Option configures a Console.
type Option func(*Console) error

// WithPath sets the path the console is mounted at, with a trailing
// slash; the default is "/console/". The console answers only below it:
// mount it with mux.Handle(path, c).
func WithPath(path string) Option {
	return func(c *Console) error {
		if !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
			return fmt.Errorf("%w: path %q must begin and end with /", ErrInvalidOption, path)
		}
		c.path = path
		return nil
	}
}

// WithReadOnly turns every action off, for every operator: the console
// only shows.
func WithReadOnly() Option {
	return func(c *Console) error {
		c.readOnly = true
		return nil
	}
}

// WithLogger sets the logger that audits actions; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *Console) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.log = l
		return nil
	}
}

// WithTitle sets the name the pages show, e.g. the service's; the default
// is "microkit console".
func WithTitle(title string) Option {
	return func(c *Console) error {
		c.title = title
		return nil
	}
}

// WithTrustedOrigin lets browser requests from origin (scheme://host[:port])
// run actions, for a console served behind a front end on another origin;
// by default only same-origin requests may.
func WithTrustedOrigin(origin string) Option {
	return func(c *Console) error {
		if err := c.cop.AddTrustedOrigin(origin); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		return nil
	}
}

// Console is the handler of the operator's view. Register what it shows
// with its Add methods, at any time; it is safe for concurrent use.
type Console struct {
	authorize Authorize
	path      string
	readOnly  bool
	log       *slog.Logger
	title     string
	cop       *http.CrossOriginProtection
	mux       *http.ServeMux
	handler   http.Handler

	mu       sync.Mutex
	breakers []*breakerSource
	history  *breakerHistory
	services []*resolverSource
	outboxes []*outboxSource
	sagas    *sagaSource
	dead     *deadLetterSource
	actions  map[string]action
	views    []view
}

// view is one page of the console, and its JSON twin.
type view struct {
	name  string // path below the console's, "" for the overview
	title string
	data  func(r *http.Request) (any, error)
}

// New returns a console that serves nothing until its owner registers
// building blocks. authorize is required.
func New(authorize Authorize, opts ...Option) (*Console, error) {
	if authorize == nil {
		return nil, fmt.Errorf("%w: a console needs an Authorize function: it has no open default", ErrInvalidOption)
	}
	c := &Console{
		authorize: authorize,
		path:      "/console/",
		log:       slog.Default(),
		title:     "microkit console",
		cop:       http.NewCrossOriginProtection(),
		history:   newBreakerHistory(historyPerBreaker, historyBreakers),
		actions:   make(map[string]action),
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, fmt.Errorf("console: new: %w", err)
		}
	}
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, gateway.CodeForbidden, "cross-origin request refused")
	}))
	c.views = []view{
		{"", "Overview", c.overview},
		{"breakers", "Breakers", c.breakerViews},
		{"discovery", "Discovery", c.discoveryViews},
		{"outbox", "Outbox", c.outboxViews},
		{"sagas", "Sagas", c.sagasList},
		{"deadletters", "Dead letters", c.deadLettersList},
	}
	c.registerBreakerActions()
	c.registerSagaActions()
	c.registerDeadLetterActions()
	c.mux = http.NewServeMux()
	c.mux.HandleFunc("GET "+c.path+"assets/console.css", serveCSS)
	for _, v := range c.views {
		c.route(v.name+suffix(v.name), v)
	}
	// Pages of one thing, reached from a list rather than the menu.
	c.route("sagas/{id}", view{"saga", "Saga", c.sagaDetail})
	c.route("deadletters/{id}", view{"deadletter", "Dead letter", c.deadLetterDetail})
	c.mux.HandleFunc("POST "+c.path+"actions/{action}", c.act(false))
	c.mux.HandleFunc("POST "+c.path+"api/actions/{action}", c.act(true))
	c.mux.HandleFunc(c.path, func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, gateway.CodeNotFound, "no such page")
	})
	c.handler = c.cop.Handler(c.mux)
	return c, nil
}

// route serves v as HTML at the console's path + pattern, and as JSON
// below api/.
func (c *Console) route(pattern string, v view) {
	c.mux.HandleFunc("GET "+c.path+pattern, c.page(v))
	c.mux.HandleFunc("GET "+c.path+"api/"+pattern, c.api(v))
}

// suffix is "{$}" for the overview, so that "/console/" matches itself
// only and not every path below it.
func suffix(name string) string {
	if name == "" {
		return "{$}"
	}
	return ""
}

// Path returns the path the console answers below.
func (c *Console) Path() string { return c.path }

// ServeHTTP authorizes the request, then serves the page, JSON document
// or action it asks for.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, err := c.authorize(r)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		c.fail(w, r, http.StatusUnauthorized, gateway.CodeUnauthorized, "sign in to use the console")
		return
	case err != nil:
		c.fail(w, r, http.StatusForbidden, gateway.CodeForbidden, "this console is not open to you")
		return
	case op.Name == "":
		c.fail(w, r, http.StatusForbidden, gateway.CodeForbidden, "this console is not open to you")
		return
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	c.handler.ServeHTTP(w, r.WithContext(withOperator(r.Context(), op)))
}

// page serves v as HTML.
func (c *Console) page(v view) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := v.data(r)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		c.render(w, r, http.StatusOK, v.name, v.title, data)
	}
}

// api serves v as JSON.
func (c *Console) api(v view) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := v.data(r)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, data)
	}
}

// requestError is an error a request caused, answered with its status.
type requestError struct {
	status  int
	code    string
	message string
}

func (e *requestError) Error() string { return e.message }

// badRequest returns a 400 requestError.
func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, gateway.CodeBadRequest, fmt.Sprintf(format, args...)}
}

// notFound returns a 404 requestError.
func notFound(format string, args ...any) error {
	return &requestError{http.StatusNotFound, gateway.CodeNotFound, fmt.Sprintf(format, args...)}
}

// failErr answers err: its own status if it is a requestError, else 500
// with the detail in the log only.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	if re, ok := errors.AsType[*requestError](err); ok {
		c.fail(w, r, re.status, re.code, re.message)
		return
	}
	c.log.ErrorContext(r.Context(), "console: request failed", "path", r.URL.Path, "error", err)
	c.fail(w, r, http.StatusInternalServerError, gateway.CodeInternal, "the console could not read this; see the service's log")
}

// fail writes an error: the toolkit's JSON error body under api/, else an
// HTML page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if c.isAPI(r) {
		gateway.WriteError(w, r, status, code, message)
		return
	}
	c.render(w, r, status, "error", http.StatusText(status), errorPage{Status: status, Code: code, Message: message})
}

type errorPage struct {
	Status  int
	Code    string
	Message string
}

func (c *Console) isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, c.path+"api/")
}

// writeJSON writes v as indented JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		gateway.WriteError(w, nil, http.StatusInternalServerError, gateway.CodeInternal, "cannot encode the answer")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/console.css
var css []byte

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(css)
}

// pages holds every template: "page-<view>" for each view (the overview's
// is "page-overview", an error's "page-error"), each framed by "head" and
// "foot".
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago":       ago,
	"until":     until,
	"stamp":     stamp,
	"pct":       func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
	"lower":     strings.ToLower,
	"sparkline": sparkline,
	"timeline":  breakerTimeline,
	"dict":      dict,
	"pathpart":  url.PathEscape,
}).ParseFS(templateFS, "templates/*.html"))

// layout is what every page template gets.
type layout struct {
	Title    string
	Page     string
	Console  string
	Path     string
	Nav      []navItem
	Operator Operator
	CanAct   bool
	Now      time.Time
	Data     any
}

type navItem struct {
	Name, Title string
	Current     bool
}

// render writes the page name with data inside the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	tname := "page-" + name
	if name == "" {
		tname = "page-overview"
	}
	c.renderTemplate(w, r, status, tname, name, title, data)
}

// renderTemplate writes the template tname as the page name (the view the
// navigation marks and the JSON link points to) with data inside the
// layout; the aggregated console renders its own templates as its views.
func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, status int, tname, name, title string, data any) {
	op, _ := OperatorFromContext(r.Context())
	l := layout{Title: title, Page: name, Console: c.title, Path: c.path, Operator: op,
		CanAct: c.canAct(op), Now: time.Now(), Data: data}
	for _, v := range c.views {
		l.Nav = append(l.Nav, navItem{Name: v.name, Title: v.title, Current: v.name == name})
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, tname, l); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", name, "error", err)
		http.Error(w, "the console could not render this page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// dict makes a map of its key, value, ... arguments, for passing several
// values to a template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// canAct reports whether op may run actions on this console.
func (c *Console) canAct(op Operator) bool { return !c.readOnly && !op.ReadOnly }

// ago formats how long before now t was, e.g. "3m20s ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// until formats how long after now t is, e.g. "in 12s".
func until(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Until(t).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}

// stamp formats t for a table cell.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// The list pages' size: pageSize by default, at most maxPageSize.
const (
	pageSize    = 50
	maxPageSize = 500
)
