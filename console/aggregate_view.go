package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// Reach says whether an instance's console answered the aggregate.
type Reach string

// The reaches of an instance's console.
const (
	// ReachAnswered: the console answered with its view.
	ReachAnswered Reach = "answered"
	// ReachTimedOut: no answer within the instance timeout
	// (WithInstanceTimeout).
	ReachTimedOut Reach = "timed-out"
	// ReachRefused: the console answered 401 or 403: it does not take the
	// aggregate's credentials (see WithInstanceRequest).
	ReachRefused Reach = "refused"
	// ReachFailed: anything else: no connection, another error status, an
	// answer too long or that is no console's, a console path announced
	// wrong.
	ReachFailed Reach = "failed"
	// ReachAbsent: the console answered 404 for a view: it has none here
	// (no dead-letter store registered, say). It answered, so it does not
	// count as unanswered. An overview is never absent: a console that
	// answers 404 for it has failed.
	ReachAbsent Reach = "absent"
)

// InstanceAnswer is what one instance's console answered the aggregate
// for a view. T is the view's type: OverviewView in the overview, and
// json.RawMessage, the instance's document as it gave it, in every other
// view's JSON (decode it as BreakersView, DiscoveryView, OutboxesView).
type InstanceAnswer[T any] struct {
	// Service and ID name the instance, Address is where it is.
	Service string `json:"service"`
	ID      string `json:"id"`
	Address string `json:"address"`
	// Console is the path its console is mounted at (Meta[MetaKey]).
	Console string `json:"console"`
	// Link is the aggregate's path to the instance's own console pages.
	Link string `json:"link"`
	// Reach says whether the console answered; Error says why not, and
	// Status is the HTTP status it answered with, 0 without an answer.
	Reach  Reach  `json:"reach"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// View is what the console answered, nil unless Reach is
	// ReachAnswered.
	View *T `json:"view,omitempty"`
}

// Aggregated is one view of every console the aggregate reads, the JSON
// document of <path>api/<view>.
type Aggregated[T any] struct {
	// View is the view's name, e.g. "breakers".
	View string `json:"view"`
	// Instances are every instance that announces a console, by service
	// and ID, those that did not answer among them.
	Instances []InstanceAnswer[T] `json:"instances"`
	// Unanswered counts the instances that did not answer: those whose
	// Reach is neither ReachAnswered nor ReachAbsent.
	Unanswered int `json:"unanswered"`
	// RegistryErrors say why the registry could not name the services, or
	// a service's instances; the instances it did name are shown.
	RegistryErrors []string `json:"registry_errors,omitempty"`
}

// AggregateOverview is the aggregated overview, the JSON document of
// <path>api/: each service's instances with their overviews.
type AggregateOverview struct {
	// Services are in name order.
	Services []ServiceOverview `json:"services"`
	// Attention sums the services' Attention, Unanswered their
	// Unanswered.
	Attention  int64 `json:"attention"`
	Unanswered int   `json:"unanswered"`
	// RegistryErrors are as in Aggregated.
	RegistryErrors []string `json:"registry_errors,omitempty"`
}

// ServiceOverview is one service in the aggregated overview.
type ServiceOverview struct {
	Service string `json:"service"`
	// Attention sums the Attention of the instances that answered.
	Attention int64 `json:"attention"`
	// Unanswered counts the instances that did not.
	Unanswered int `json:"unanswered"`
	// Instances are by ID.
	Instances []InstanceAnswer[OverviewView] `json:"instances"`
}

// readOverview reads every instance's overview.
func (a *Aggregate) readOverview(ctx context.Context) AggregateOverview {
	targets, problems := a.targets(ctx)
	out := AggregateOverview{Services: []ServiceOverview{}, RegistryErrors: problems}
	for _, raw := range a.gather(ctx, targets, "api/", "") {
		ans := decodeAnswer[OverviewView](raw, "overview")
		if n := len(out.Services); n == 0 || out.Services[n-1].Service != ans.Service {
			out.Services = append(out.Services, ServiceOverview{Service: ans.Service})
		}
		s := &out.Services[len(out.Services)-1]
		s.Instances = append(s.Instances, ans)
		if ans.View != nil {
			s.Attention += ans.View.Attention
		} else {
			s.Unanswered++
		}
	}
	for _, s := range out.Services {
		out.Attention += s.Attention
		out.Unanswered += s.Unanswered
	}
	return out
}

// readView reads the view name of every instance, each with the same
// query (a filter, a page).
func (a *Aggregate) readView(ctx context.Context, name, query string) Aggregated[json.RawMessage] {
	targets, problems := a.targets(ctx)
	out := Aggregated[json.RawMessage]{View: name, Instances: a.gather(ctx, targets, "api/"+name, query), RegistryErrors: problems}
	for i := range out.Instances {
		ans := &out.Instances[i]
		if ans.Reach == ReachFailed && ans.Status == http.StatusNotFound {
			ans.Reach = ReachAbsent
		}
		if ans.Reach != ReachAnswered && ans.Reach != ReachAbsent {
			out.Unanswered++
		}
	}
	return out
}

// unknownView reports whether every instance answered that it has no such
// view: the aggregate then has none either.
func unknownView(v Aggregated[json.RawMessage]) bool {
	for _, ans := range v.Instances {
		if ans.Reach != ReachAbsent {
			return false
		}
	}
	return len(v.Instances) > 0
}

// decodeAnswer decodes the view an instance answered as a T; an answer
// that is no T counts as failed.
func decodeAnswer[T any](raw InstanceAnswer[json.RawMessage], what string) InstanceAnswer[T] {
	ans := InstanceAnswer[T]{Service: raw.Service, ID: raw.ID, Address: raw.Address, Console: raw.Console,
		Link: raw.Link, Reach: raw.Reach, Status: raw.Status, Error: raw.Error}
	if raw.View == nil {
		return ans
	}
	var v T
	if err := json.Unmarshal(*raw.View, &v); err != nil {
		ans.Reach, ans.Error = ReachFailed, fmt.Sprintf("the answer is no console %s: %v", what, err)
		return ans
	}
	ans.View = &v
	return ans
}

// viewTypes decode an instance's document of a view into the type its
// "view-<name>" template reads; the aggregate shows a view it has no type
// for as the document itself.
var viewTypes = map[string]func(json.RawMessage) (any, error){
	"breakers":    decodeAs[BreakersView],
	"discovery":   decodeAs[DiscoveryView],
	"outbox":      decodeAs[OutboxesView],
	"deadletters": decodeAs[DeadLettersView],
	"sagas":       decodeAs[SagasView],
}

func decodeAs[T any](raw json.RawMessage) (any, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// viewPage is what the aggregated page of a view shows.
type viewPage struct {
	RegistryErrors []string
	Unanswered     int
	Sections       []instanceSection
}

// instanceSection is one instance on a view's page: its answer as its own
// console shows it (Body), or why there is none.
type instanceSection struct {
	Service, ID, Address, Link string
	Reach                      Reach
	Error                      string
	Body                       template.HTML
}

// sections renders each instance's answer with the console's own
// template of the view, its links and actions leading through the
// aggregate to that instance.
func (a *Aggregate) sections(r *http.Request, v Aggregated[json.RawMessage]) viewPage {
	op, _ := OperatorFromContext(r.Context())
	query := ""
	if r.URL.RawQuery != "" {
		query = "?" + r.URL.RawQuery
	}
	now := time.Now()
	page := viewPage{RegistryErrors: v.RegistryErrors, Unanswered: v.Unanswered}
	for _, ans := range v.Instances {
		s := instanceSection{Service: ans.Service, ID: ans.ID, Address: ans.Address, Link: ans.Link, Reach: ans.Reach, Error: ans.Error}
		if ans.View != nil {
			body, err := a.body(v.View, query, ans, op, now)
			if err != nil {
				s.Reach, s.Error = ReachFailed, err.Error()
				page.Unanswered++
			}
			s.Body = body
		}
		page.Sections = append(page.Sections, s)
	}
	return page
}

// jsonBlock is what the "aggregate-json" template shows: a document the
// aggregate has no template for, and the instance's page of it.
type jsonBlock struct {
	JSON string
	Page string
}

// body renders one instance's answer of the view name.
func (a *Aggregate) body(name, query string, ans InstanceAnswer[json.RawMessage], op Operator, now time.Time) (template.HTML, error) {
	tname := "view-" + name
	decode, ok := viewTypes[name]
	var data any
	if ok && pages.Lookup(tname) != nil {
		v, err := decode(*ans.View)
		if err != nil {
			return "", fmt.Errorf("the answer is no console %s: %w", name, err)
		}
		data = v
	} else {
		var indented bytes.Buffer
		if err := json.Indent(&indented, *ans.View, "", "  "); err != nil {
			return "", fmt.Errorf("the answer is no JSON: %w", err)
		}
		tname, data = "aggregate-json", jsonBlock{JSON: indented.String(), Page: ans.Link + name + query}
	}
	var buf bytes.Buffer
	l := layout{Path: ans.Link, Operator: op, CanAct: a.frame.canAct(op), Now: now, Data: data}
	if err := pages.ExecuteTemplate(&buf, tname, l); err != nil {
		return "", fmt.Errorf("render %s: %w", tname, err)
	}
	return template.HTML(buf.String()), nil
}
