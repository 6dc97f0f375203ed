package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
)

// target is one instance whose console the aggregate reads.
type target struct {
	in      discovery.Instance
	console string // the path its console is mounted at
	invalid string // why its console cannot be reached, "" when it can
}

// consolePath is what an announced console path may be: absolute, ending
// in "/", made of plain segments (none is "." or ".."), so that the
// aggregate's requests stay below it.
var consolePath = regexp.MustCompile(`^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/)*$`)

func newTarget(in discovery.Instance) target {
	t := target{in: in, console: in.Meta[MetaKey]}
	if !consolePath.MatchString(t.console) {
		t.invalid = fmt.Sprintf("the instance announces %q as its console path, which is no absolute path ending in /", t.console)
	}
	return t
}

// link is the aggregate's path to t's console pages.
func (a *Aggregate) link(t target) string {
	return a.frame.path + "instances/" + url.PathEscape(t.in.ID) + "/"
}

// targets reads the registry: the instances of every service that
// announce a console, by service and ID, and why some could not be read.
func (a *Aggregate) targets(ctx context.Context) ([]target, []string) {
	names, err := a.serviceNames(ctx)
	if err != nil {
		return nil, []string{"registry: " + err.Error()}
	}
	sets := make([][]discovery.Instance, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			errs[i] = a.bounded(ctx, func(ctx context.Context) (err error) {
				sets[i], err = a.reg.Instances(ctx, name)
				return err
			})
		})
	}
	wg.Wait()
	var out []target
	var problems []string
	seen := make(map[string]bool)
	for i, set := range sets {
		if errs[i] != nil {
			problems = append(problems, names[i]+": "+errs[i].Error())
			continue
		}
		for _, in := range set {
			if _, ok := in.Meta[MetaKey]; !ok || seen[in.ID] {
				continue
			}
			seen[in.ID] = true
			out = append(out, newTarget(in))
		}
	}
	slices.SortFunc(out, func(x, y target) int {
		if c := strings.Compare(x.in.Service, y.in.Service); c != 0 {
			return c
		}
		return strings.Compare(x.in.ID, y.in.ID)
	})
	return out, problems
}

// serviceNames returns the services WithServices named, or else those
// the registry names.
func (a *Aggregate) serviceNames(ctx context.Context) ([]string, error) {
	if a.named != nil {
		return a.named, nil
	}
	var names []string
	err := a.bounded(ctx, func(ctx context.Context) (err error) {
		names, err = a.reg.(discovery.ServiceLister).Services(ctx)
		return err
	})
	return names, err
}

// find returns the target whose instance has the ID id, if the registry
// lists it with a console.
func (a *Aggregate) find(ctx context.Context, id string) (target, bool) {
	targets, _ := a.targets(ctx)
	for _, t := range targets {
		if t.in.ID == id {
			return t, true
		}
	}
	return target{}, false
}

// bounded runs f in one of the aggregate's slots, with the instance
// timeout: it waits for a slot until ctx ends, and then gives f a context
// that ends after the timeout.
func (a *Aggregate) bounded(ctx context.Context, f func(context.Context) error) error {
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.slots }()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx)
}

// gather reads rel?query, a document below the console path, of every
// target at once, and returns the answers in the targets' order.
func (a *Aggregate) gather(ctx context.Context, targets []target, rel, query string) []InstanceAnswer[json.RawMessage] {
	out := make([]InstanceAnswer[json.RawMessage], len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		out[i] = InstanceAnswer[json.RawMessage]{Service: t.in.Service, ID: t.in.ID, Address: t.in.Addr(),
			Console: t.console, Link: a.link(t)}
		if t.invalid != "" {
			out[i].Reach, out[i].Error = ReachFailed, t.invalid
			continue
		}
		wg.Go(func() {
			doc, err := a.get(ctx, t, rel, query)
			ans := &out[i]
			if err != nil {
				ans.Reach, ans.Error = ReachFailed, err.Error()
				if fe, ok := errors.AsType[*fetchError](err); ok {
					ans.Reach, ans.Status = fe.reach, fe.status
				}
				return
			}
			ans.Reach, ans.Status, ans.View = ReachAnswered, http.StatusOK, &doc
		})
	}
	wg.Wait()
	return out
}

// fetchError is why an instance's console gave the aggregate no answer.
type fetchError struct {
	reach  Reach
	status int // the HTTP status it answered with, 0 without an answer
	msg    string
}

func (e *fetchError) Error() string { return e.msg }

// get fetches the JSON document rel?query of t's console.
func (a *Aggregate) get(ctx context.Context, t target, rel, query string) (json.RawMessage, error) {
	var doc json.RawMessage
	err := a.bounded(ctx, func(ctx context.Context) error {
		res, err := a.send(ctx, http.MethodGet, t, rel, query, nil)
		if err != nil {
			return err
		}
		if res.status != http.StatusOK {
			return res.refusal()
		}
		if !res.is("application/json") || !json.Valid(res.body) {
			return &fetchError{reach: ReachFailed, status: res.status, msg: "the answer is no console's JSON"}
		}
		doc = res.body
		return nil
	})
	return doc, err
}

// response is an instance console's answer, read whole.
type response struct {
	status      int
	contentType string
	body        []byte
}

// is reports whether the response's media type is mediaType.
func (r response) is(mediaType string) bool {
	mt, _, err := mime.ParseMediaType(r.contentType)
	return err == nil && mt == mediaType
}

// refusal is the error of a response whose status is not 200: refused
// for 401 and 403, failed for any other, with the console's message.
func (r response) refusal() error {
	msg := fmt.Sprintf("answered %d %s", r.status, http.StatusText(r.status))
	var body gateway.ErrorBody
	if r.is("application/json") && json.Unmarshal(r.body, &body) == nil && body.Error.Message != "" {
		m := body.Error.Message
		if len(m) > 200 { // a console's messages are a line; this is none
			m = strings.ToValidUTF8(m[:200], "") + "…"
		}
		msg += ": " + m
	}
	reach := ReachFailed
	if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
		reach = ReachRefused
	}
	return &fetchError{reach: reach, status: r.status, msg: msg}
}

// send makes one request to t's console, for rel below its path, and
// reads the answer, at most the aggregate's limit of it. form, if not
// nil, is sent as a form. An answer that comes after ctx ends counts as
// none.
func (a *Aggregate) send(ctx context.Context, method string, t target, rel, query string, form []byte) (response, error) {
	u := url.URL{Scheme: a.scheme, Host: t.in.Addr(), Path: t.console + rel, RawQuery: query}
	var body io.Reader
	if form != nil {
		body = bytes.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return response{}, &fetchError{reach: ReachFailed, msg: err.Error()}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if a.prepare != nil {
		a.prepare(req)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return response{}, a.unreached(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, a.maxBytes+1))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return response{}, a.unreached(ctx, err)
	}
	if int64(len(b)) > a.maxBytes {
		return response{}, &fetchError{reach: ReachFailed, status: resp.StatusCode,
			msg: fmt.Sprintf("the answer is longer than %d bytes", a.maxBytes)}
	}
	return response{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}, nil
}

// unreached is the error of a request made with ctx that failed with err:
// timed out if ctx's time ran out, failed otherwise.
func (a *Aggregate) unreached(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return &fetchError{reach: ReachTimedOut, msg: fmt.Sprintf("no answer within %v", a.timeout)}
	}
	return &fetchError{reach: ReachFailed, msg: err.Error()}
}
