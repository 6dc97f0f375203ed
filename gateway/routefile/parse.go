package routefile

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/go-microkit/microkit/gateway"
)

// routeFields maps the fields of gateway.RouteError to the file's keys, so
// that a validation error points at the right line.
var routeFields = map[string]string{
	"Path": "path", "Methods": "methods", "Target": "target", "StripPrefix": "strip_prefix",
	"Rewrite": "rewrite", "Timeout": "timeout", "Retry.Attempts": "retry", "Retry.Backoff": "retry",
	"Retry.Statuses": "retry", "Middleware": "middleware", "BodyReadTimeout": "body_read_timeout",
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
			err = parseRetry(field, v, &r.Retry)
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

func parseRetry(at string, n *yaml.Node, p *gateway.RetryPolicy) error {
	if n.Kind != yaml.MappingNode {
		return &Error{Line: n.Line, Field: at, Err: errors.New("want a mapping")}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "attempts":
			err = v.Decode(&p.Attempts)
		case "statuses":
			err = v.Decode(&p.Statuses)
		case "backoff":
			p.Backoff, err = decodeDuration(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return &Error{Line: v.Line, Field: at + "." + k.Value, Err: err}
		}
	}
	return nil
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
