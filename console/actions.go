package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// action is something an operator may do from the console. prepare reads
// the request's form and looks up what the action is on, once: it says
// what the action will do (for the confirmation page and the audit log)
// and returns the step that does it.
type action struct {
	title   string
	prepare func(ctx context.Context, form url.Values) (prepared, error)
}

// prepared is an action ready to run on what its form named.
type prepared struct {
	// what says what the action will do.
	what string
	// do does it and says what it did.
	do func(ctx context.Context) (ActionResult, error)
}

// ActionResult is the answer to an action, as the JSON API gives it.
type ActionResult struct {
	// Action is the action's name, e.g. "breaker-reset".
	Action string `json:"action"`
	// Done is how many things it changed: breakers, sagas, dead letters.
	Done int `json:"done"`
	// Message says what happened, for people.
	Message string `json:"message"`
}

// confirmPage is what the confirmation page shows.
type confirmPage struct {
	Action      string
	Title       string
	Description string
	Fields      []field
}

type field struct{ Name, Value string }

// addAction registers an action under name.
func (c *Console) addAction(name string, a action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.actions[name] = a
}

// act serves POST actions/{action}. Without confirm=yes in the form it
// only describes what the action would do (the confirmation page; a 400
// under api/); with it, the action runs and is audited.
func (c *Console) act(isAPI bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("action")
		c.mu.Lock()
		a, ok := c.actions[name]
		c.mu.Unlock()
		if !ok {
			c.fail(w, r, http.StatusNotFound, gateway.CodeNotFound, "no such action")
			return
		}
		op, _ := OperatorFromContext(r.Context())
		if !c.canAct(op) {
			c.fail(w, r, http.StatusForbidden, gateway.CodeForbidden, "this console is read-only for you")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, http.StatusBadRequest, gateway.CodeBadRequest, "the form could not be read")
			return
		}
		form := r.PostForm
		p, err := a.prepare(r.Context(), form)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		desc := p.what
		if form.Get("confirm") != "yes" {
			if isAPI {
				c.fail(w, r, http.StatusBadRequest, gateway.CodeBadRequest, "confirm=yes is required: "+desc)
				return
			}
			page := confirmPage{Action: name, Title: a.title, Description: desc}
			for k, vs := range form {
				for _, v := range vs {
					page.Fields = append(page.Fields, field{k, v})
				}
			}
			c.render(w, r, http.StatusOK, "confirm", "Confirm: "+a.title, page)
			return
		}
		start := time.Now()
		res, err := p.do(r.Context())
		res.Action = name
		attrs := []any{"operator", op.Name, "action", name, "what", desc, "done", res.Done, "took", time.Since(start).Round(time.Millisecond)}
		if err != nil {
			c.log.WarnContext(r.Context(), "console: action failed", append(attrs, "error", err)...)
			c.failErr(w, r, err)
			return
		}
		c.log.InfoContext(r.Context(), "console: action", attrs...)
		if isAPI {
			writeJSON(w, http.StatusOK, res)
			return
		}
		c.render(w, r, http.StatusOK, "done", "Done: "+a.title, res)
	}
}

// required returns form's value of key, or a 400 error naming it.
func required(form url.Values, key string) (string, error) {
	v := form.Get(key)
	if v == "" {
		return "", badRequest("%s is required", key)
	}
	return v, nil
}

// plural returns "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
