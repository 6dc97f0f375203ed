package routefile

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/go-microkit/microkit/gateway"
)

// ErrInvalid is wrapped by every error about the file's content.
var ErrInvalid = errors.New("routefile: invalid route file")

// Error is an error at one place of a route file.
type Error struct {
	// Line is the 1-based line of the offending value; 0 when unknown.
	Line int
	// Field is the path of the field, e.g. "routes[1].timeout".
	Field string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("routefile: line %d: %s: %v", e.Line, e.Field, e.Err)
}

// Unwrap returns ErrInvalid and the cause.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Registry maps the names a route file uses to Go values.
type Registry struct {
	// Middleware by name, for "middleware"; a name missing here is an
	// error.
	Middleware map[string]gateway.Middleware
	// Service returns the target of a discovered service, for "service"
	// (e.g. discoverytarget.New with a shared resolver); nil makes
	// "service" an error.
	Service func(name string) (gateway.Target, error)
	// Breakers returns the breakers of a route, for "breaker: true"; nil
	// makes "breaker: true" an error.
	Breakers func(route string) (gateway.Breakers, error)
	// Handlers by name, for "handler": routes the gateway serves in
	// process (gateway.Route.Handler), such as a composition or a health
	// check. The file names one; the Go program provides it. A name
	// missing here is an error.
	Handlers map[string]http.Handler
}

// Load reads and parses the route file at path.
func Load(path string, reg Registry) ([]gateway.Route, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routefile: load: %w", err)
	}
	return Parse(data, reg)
}

// Parse parses a route file and validates every route as gateway.New
// would; errors are *Error values naming the line and field.
func Parse(data []byte, reg Registry) ([]gateway.Route, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Line: yamlErrorLine(err), Field: "(file)", Err: err}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Line: doc.Line, Field: "(file)", Err: errors.New("want a mapping with a routes list")}
	}
	top := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value != "routes" {
			return nil, &Error{Line: k.Line, Field: k.Value, Err: errors.New("unknown key")}
		}
		list = v
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, &Error{Line: top.Line, Field: "routes", Err: errors.New("want a list of routes")}
	}
	routes := make([]gateway.Route, 0, len(list.Content))
	patterns := make([]gateway.Pattern, 0, len(list.Content))
	for i, n := range list.Content {
		at := fmt.Sprintf("routes[%d]", i)
		r, err := parseRoute(at, n, reg)
		if err != nil {
			return nil, err
		}
		p, err := gateway.ParsePattern(r.Path)
		if err != nil { // parseRoute validated the route
			return nil, &Error{Line: keyLine(n, "path"), Field: at + ".path", Err: err}
		}
		for j, prev := range routes {
			if patterns[j].Equivalent(p) && methodsOverlap(prev.Methods, r.Methods) {
				return nil, &Error{Line: keyLine(n, "path"), Field: at + ".path", Err: fmt.Errorf("same paths and methods as routes[%d] (%s)", j, prev.Path)}
			}
		}
		routes = append(routes, r)
		patterns = append(patterns, p)
	}
	return routes, nil
}

// methodsOverlap reports whether two method lists (empty: all) share one,
// as gateway.New judges duplicates.
func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(y)) {
				return true
			}
		}
	}
	return false
}

// keyLine returns the line of key's value in mapping n, or n's line.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Line
		}
	}
	return n.Line
}

// yamlErrorLine digs the line out of a yaml.v3 syntax error, which has no
// field for it.
func yamlErrorLine(err error) int {
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil {
		return line
	}
	return 0
}

func decodeDuration(n *yaml.Node) (time.Duration, error) {
	var s string
	if err := n.Decode(&s); err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}
