package routefile

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/retry"
)

// routeFields maps the fields of gateway.RouteError to the file's keys, so
// that a validation error points at the right line.
var routeFields = map[string]string{
	"Path": "path", "Methods": "methods", "Target": "target", "StripPrefix": "strip_prefix",
	"Rewrite": "rewrite", "Timeout": "timeout", "Retry": "retry", "RetryStatuses": "retry",
	"Middleware": "middleware", "BodyReadTimeout": "body_read_timeout",
	"Upgrades": "upgrades", "Handler": "handler", "Breakers": "breaker", "PreserveHost": "preserve_host",
}

func parseRoute(at string, n *yaml.Node, reg Registry) (gateway.Route, error) {
	var r gateway.Route
	if n.Kind != yaml.MappingNode {
		return r, &Error{Line: n.Line, Field: at, Err: errors.New("want a mapping")}
	}
	lines := map[string]int{}
	var target, service, handler *yaml.Node
	breaker := false
	var breakerLine int
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := at + "." + k.Value
		if _, dup := lines[k.Value]; dup {
			return r, &Error{Line: k.Line, Field: field, Err: errors.New("repeated key")}
		}
		lines[k.Value] = v.Line
		var err error
		switch k.Value {
		case "name":
			err = v.Decode(&r.Name)
		case "path":
			err = v.Decode(&r.Path)
		case "methods":
			err = v.Decode(&r.Methods)
		case "target":
			target = v
		case "service":
			service = v
		case "handler":
			handler = v
		case "strip_prefix":
			err = v.Decode(&r.StripPrefix)
		case "rewrite":
			err = v.Decode(&r.Rewrite)
		case "timeout":
			r.Timeout, err = decodeDuration(v)
		case "body_read_timeout":
			r.BodyReadTimeout, err = decodeDuration(v)
		case "upgrades":
			err = v.Decode(&r.Upgrades)
		case "retry":
			err = parseRetry(field, v, &r)
		case "breaker":
			err = v.Decode(&breaker)
			breakerLine = v.Line
		case "middleware":
			err = parseMiddleware(field, v, reg, &r)
		case "preserve_host":
			err = v.Decode(&r.PreserveHost)
		default:
			err = errors.New("unknown key")
			v = k
		}
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) {
				return r, err
			}
			return r, &Error{Line: v.Line, Field: field, Err: err}
		}
	}
	if err := setTarget(at, n, target, service, handler, reg, &r); err != nil {
		return r, err
	}
	if breaker {
		if reg.Breakers == nil {
			return r, &Error{Line: breakerLine, Field: at + ".breaker", Err: errors.New("no breakers in the registry")}
		}
		name := r.Name
		if name == "" {
			name = r.Path
		}
		b, err := reg.Breakers(name)
		if err != nil {
			return r, &Error{Line: breakerLine, Field: at + ".breaker", Err: err}
		}
		r.Breakers = b
	}
	if err := r.Validate(); err != nil {
		var re *gateway.RouteError
		line, key := n.Line, ""
		if errors.As(err, &re) {
			key = routeFields[re.Field]
			if l, ok := lines[key]; ok {
				line = l
			}
			err = re.Err
		}
		field := at
		if key != "" {
			field += "." + key
		}
		return r, &Error{Line: line, Field: field, Err: err}
	}
	return r, nil
}

// setTarget sets the route's Target from "target" or "service", or its
// Handler from "handler": exactly one of them.
func setTarget(at string, n, target, service, handler *yaml.Node, reg Registry, r *gateway.Route) error {
	given := 0
	for _, v := range []*yaml.Node{target, service, handler} {
		if v != nil {
			given++
		}
	}
	switch {
	case given > 1:
		// Point at the last of them: a target given, then another.
		field, v := "service", service
		if handler != nil {
			field, v = "handler", handler
		}
		return &Error{Line: v.Line, Field: at + "." + field, Err: errors.New("give one of target, service and handler")}
	case handler != nil:
		var name string
		if err := handler.Decode(&name); err != nil || name == "" {
			return &Error{Line: handler.Line, Field: at + ".handler", Err: errors.New("want a handler name")}
		}
		h, ok := reg.Handlers[name]
		if !ok || h == nil {
			return &Error{Line: handler.Line, Field: at + ".handler", Err: fmt.Errorf("unknown handler %q", name)}
		}
		r.Handler = h
	case target != nil:
		var u string
		if err := target.Decode(&u); err != nil {
			return &Error{Line: target.Line, Field: at + ".target", Err: err}
		}
		t, err := gateway.StaticTarget(u)
		if err != nil {
			return &Error{Line: target.Line, Field: at + ".target", Err: err}
		}
		r.Target = t
	case service != nil:
		var name string
		if err := service.Decode(&name); err != nil || name == "" {
			return &Error{Line: service.Line, Field: at + ".service", Err: errors.New("want a service name")}
		}
		if reg.Service == nil {
			return &Error{Line: service.Line, Field: at + ".service", Err: errors.New("no service resolver in the registry")}
		}
		t, err := reg.Service(name)
		if err != nil {
			return &Error{Line: service.Line, Field: at + ".service", Err: err}
		}
		r.Target = t
	default:
		return &Error{Line: n.Line, Field: at, Err: errors.New("needs a target, a service or a handler")}
	}
	return nil
}

// parseRetry reads a route's retry mapping into r.Retry and
// r.RetryStatuses. Two older forms are still read: attempts, the number of
// retries after the first try, and a backoff given as one duration, a
// pause of up to that long before each retry.
func parseRetry(at string, n *yaml.Node, r *gateway.Route) error {
	if n.Kind != yaml.MappingNode {
		return &Error{Line: n.Line, Field: at, Err: errors.New("want a mapping")}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "max_attempts":
			err = v.Decode(&r.Retry.MaxAttempts)
		case "attempts":
			var retries int
			if err = v.Decode(&retries); err == nil && retries < 0 {
				err = fmt.Errorf("negative %d", retries)
			}
			r.Retry.MaxAttempts = 1 + retries
		case "max_elapsed":
			r.Retry.MaxElapsed, err = decodeDuration(v)
		case "backoff":
			r.Retry.Backoff, err = parseBackoff(at+".backoff", v)
		case "statuses":
			err = v.Decode(&r.RetryStatuses)
		default:
			err = errors.New("unknown key")
		}
		if err == nil && (k.Value == "attempts" && seen["max_attempts"] || k.Value == "max_attempts" && seen["attempts"]) {
			err = errors.New("give max_attempts or attempts, not both")
		}
		seen[k.Value] = true
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) {
				return err
			}
			return &Error{Line: v.Line, Field: at + "." + k.Value, Err: err}
		}
	}
	return nil
}

// parseBackoff reads a retry.Backoff: a mapping of initial, max, multiplier
// and jitter (full, equal or none), or one duration d, which is
// Backoff{Initial: d, Max: d}.
func parseBackoff(at string, n *yaml.Node) (retry.Backoff, error) {
	var b retry.Backoff
	if n.Kind == yaml.ScalarNode {
		d, err := decodeDuration(n)
		return retry.Backoff{Initial: d, Max: d}, err
	}
	if n.Kind != yaml.MappingNode {
		return b, errors.New("want a duration or a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "initial":
			b.Initial, err = decodeDuration(v)
		case "max":
			b.Max, err = decodeDuration(v)
		case "multiplier":
			err = v.Decode(&b.Multiplier)
		case "jitter":
			b.Jitter, err = decodeJitter(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return b, &Error{Line: v.Line, Field: at + "." + k.Value, Err: err}
		}
	}
	return b, nil
}

func decodeJitter(n *yaml.Node) (retry.Jitter, error) {
	var s string
	if err := n.Decode(&s); err != nil {
		return 0, err
	}
	for _, j := range []retry.Jitter{retry.FullJitter, retry.EqualJitter, retry.NoJitter} {
		if s == j.String() {
			return j, nil
		}
	}
	return 0, fmt.Errorf("unknown jitter %q: want full, equal or none", s)
}

func parseMiddleware(at string, n *yaml.Node, reg Registry, r *gateway.Route) error {
	var names []string
	if err := n.Decode(&names); err != nil {
		return &Error{Line: n.Line, Field: at, Err: err}
	}
	for i, name := range names {
		m, ok := reg.Middleware[name]
		if !ok || m == nil {
			return &Error{Line: n.Content[i].Line, Field: fmt.Sprintf("%s[%d]", at, i), Err: fmt.Errorf("unknown middleware %q", name)}
		}
		r.Middleware = append(r.Middleware, m)
	}
	return nil
}
