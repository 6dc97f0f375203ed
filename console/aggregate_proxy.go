package console

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-microkit/microkit/gateway"
)

// maxForm bounds the form of a proxied action, as the console bounds its
// own.
const maxForm = 64 << 10

// actionPath is the only path below an instance's console the aggregate
// posts to: an action, confirmed on a page or run through the API.
var actionPath = regexp.MustCompile(`^(api/)?actions/[a-z0-9][a-z0-9-]{0,63}$`)

// proxy serves <path>instances/{id}/{rest...}: rest, a page, document or
// action of the console of the instance id, through the aggregate, for an
// operator who reaches the aggregate only. It forwards only to an
// instance the registry lists with a console, only below its console's
// path, follows no redirect and reads a bounded answer. A POST must be an
// action and passes the aggregate's own authorization, cross-origin
// protection and read-only check first; the instance's console then
// confirms and audits it as it does its own.
func (a *Aggregate) proxy(w http.ResponseWriter, r *http.Request) {
	id, rest := r.PathValue("id"), r.PathValue("rest")
	isAPI := strings.HasPrefix(rest, "api/")
	fail := func(status int, code, message string) {
		if isAPI {
			gateway.WriteError(w, r, status, code, message)
			return
		}
		a.frame.render(w, r, status, "error", http.StatusText(status), errorPage{Status: status, Code: code, Message: message})
	}
	if !plainPath(rest) {
		fail(http.StatusNotFound, gateway.CodeNotFound, "no such page")
		return
	}
	query, form := r.URL.RawQuery, []byte(nil)
	if r.Method == http.MethodPost {
		if !actionPath.MatchString(rest) {
			fail(http.StatusMethodNotAllowed, gateway.CodeMethodNotAllowed, "only actions are posted to an instance")
			return
		}
		if op, _ := OperatorFromContext(r.Context()); !a.frame.canAct(op) {
			fail(http.StatusForbidden, gateway.CodeForbidden, "this console is read-only for you")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			fail(http.StatusBadRequest, gateway.CodeBadRequest, "the form could not be read")
			return
		}
		query, form = "", []byte(r.PostForm.Encode())
	}
	t, ok := a.find(r.Context(), id)
	switch {
	case !ok:
		fail(http.StatusNotFound, gateway.CodeNotFound, "no instance "+id+" with a console in the registry")
		return
	case t.invalid != "":
		fail(http.StatusBadGateway, gateway.CodeBadGateway, t.invalid)
		return
	}
	var res response
	err := a.bounded(r.Context(), func(ctx context.Context) (err error) {
		res, err = a.send(ctx, r.Method, t, rest, query, form)
		return err
	})
	if err != nil {
		if fe, ok := errors.AsType[*fetchError](err); ok && fe.reach == ReachTimedOut {
			fail(http.StatusGatewayTimeout, gateway.CodeUpstreamTimeout, "the instance's console: "+err.Error())
			return
		}
		fail(http.StatusBadGateway, gateway.CodeBadGateway, "the instance's console: "+err.Error())
		return
	}
	switch {
	case res.status >= 300 && res.status < 400:
		fail(http.StatusBadGateway, gateway.CodeBadGateway, "the instance's console answered with a redirect, which the aggregate does not follow")
		return
	case !res.is("text/html") && !res.is("application/json") && !res.is("text/css"):
		fail(http.StatusBadGateway, gateway.CodeBadGateway, "the instance's answer is no console's")
		return
	}
	body := res.body
	if res.is("text/html") {
		body = rewriteLinks(body, t.console, a.link(t))
	}
	h := w.Header()
	h.Set("Content-Type", res.contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(res.status)
	_, _ = w.Write(body)
}

// plainPath reports whether rest, a path below an instance's console,
// stays below it: no "." or ".." segment, no empty one but the last, no
// backslash.
func plainPath(rest string) bool {
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		if s == "." || s == ".." || strings.ContainsRune(s, '\\') || (s == "" && i < len(segs)-1) {
			return false
		}
	}
	return true
}

// rewriteLinks points the links of an instance's page that lead below its
// console's path (its views, its actions' forms, its style sheet) at the
// same place through the aggregate, so that an operator who reaches the
// aggregate only stays on it. The console's templates write every such
// link as an attribute starting with the path.
func rewriteLinks(page []byte, console, link string) []byte {
	to := template.HTMLEscapeString(link)
	for _, attr := range []string{`href="`, `action="`, `src="`} {
		page = bytes.ReplaceAll(page, []byte(attr+console), []byte(attr+to))
	}
	return page
}
