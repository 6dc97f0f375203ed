package gatewaysvc

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/users"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/jwtauth"
)

// The operator's console behind the gateway: the aggregate of every
// instance's console (console.Aggregate), each found in the registry by
// the path it announces, the gateway's own among them. API clients send the admin's
// bearer token, as on /api/admin/*; a browser signs in once on
// AdminPath+"login", which keeps the same token in SessionCookie. The
// cookie is HttpOnly (no script reads it), SameSite=Strict (no other
// site's page makes the browser send it), limited to AdminPath, Secure
// when the gateway is reached over TLS, and lives as long as the token.
// SameSite does not tell apart two origins of one site (another port of
// the same host), so every POST under AdminPath must also come from the
// gateway's own origin (http.CrossOriginProtection: Sec-Fetch-Site, else
// Origin against Host): a page elsewhere cannot sign an operator in or
// out, nor run a console action with the operator's cookie.
const (
	// AdminPath is where the gateway serves the aggregated console, to
	// the admin role only.
	AdminPath = "/admin/"
	// SessionCookie holds the signed-in operator's token.
	SessionCookie = "shop_admin"
)

// consoled lists the services whose instances serve a console.
var consoled = []string{platform.GatewayService, platform.UserService, platform.ProductService,
	platform.OrderService, platform.PaymentService, platform.NotificationService}

// aggregate returns the aggregated console of the shop's instances at
// AdminPath. It asks each instance's console as the operator it
// authorized (platform.ForwardOperator), so that each instance's audit
// log names the person, and shows only this shop's services (a Consul
// agent may hold other shops' under other prefixes).
func aggregate(deps *platform.Deps) (*console.Aggregate, error) {
	names := make([]string, len(consoled))
	for i, s := range consoled {
		names[i] = deps.Name(s)
	}
	return console.NewAggregate(platform.AuthorizeConsole, deps.Registry, console.WithServices(names...),
		console.WithConsoleOptions(console.WithPath(AdminPath), console.WithTitle("shop"), console.WithLogger(deps.Logger)),
		console.WithInstanceRequest(platform.ForwardOperator))
}

// adminPages serves the sign-in page and the session cookie of the
// console at AdminPath.
type adminPages struct {
	deps *platform.Deps
	auth *jwtauth.Authenticator
	cop  *http.CrossOriginProtection
}

func newAdminPages(deps *platform.Deps, auth *jwtauth.Authenticator) *adminPages {
	a := &adminPages{deps: deps, auth: auth, cop: http.NewCrossOriginProtection()}
	a.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gateway.WriteError(w, r, http.StatusForbidden, gateway.CodeForbidden, "cross-origin request refused")
	}))
	return a
}

// routes returns the gateway's routes of the console c (served at
// AdminPath): sign-in and sign-out, public but limited like the API's
// login, and the console itself, for a verified token with the admin role,
// from a bearer header or the session cookie.
func (a *adminPages) routes(c http.Handler, failLimit, limit gateway.Middleware) []gateway.Route {
	return []gateway.Route{
		{Name: "admin-login", Path: AdminPath + "login", Methods: []string{http.MethodGet, http.MethodPost},
			Handler: a.cop.Handler(http.HandlerFunc(a.login)), Middleware: []gateway.Middleware{failLimit, limit}, Timeout: 10 * time.Second},
		{Name: "admin-logout", Path: AdminPath + "logout", Methods: []string{http.MethodPost},
			Handler: a.cop.Handler(http.HandlerFunc(a.logout)), Middleware: []gateway.Middleware{limit}, Timeout: 5 * time.Second},
		{Name: "admin", Path: AdminPath + "**", Handler: a.cop.Handler(keepTrailingSlash(c)),
			Middleware: []gateway.Middleware{failLimit, a.session, a.auth.Middleware(), limit, requireRole(platform.RoleAdmin)},
			Timeout:    10 * time.Second},
	}
}

// session turns the session cookie into the bearer token the
// authentication middleware verifies, when the request has no
// Authorization header of its own, and drops every cookie, so that
// nothing behind the gateway sees the token twice. A browser asking for a
// page without a valid session gets the sign-in form, as a 401.
func (a *adminPages) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			token := ""
			if ck, err := r.Cookie(SessionCookie); err == nil {
				token = ck.Value
			}
			if wantsPage(r) {
				if token == "" {
					a.page(w, r, http.StatusUnauthorized, loginForm{Next: requestedPath(r)})
					return
				}
				if _, err := a.auth.Verify(r.Context(), token); err != nil {
					clearSession(w, r)
					a.page(w, r, http.StatusUnauthorized, loginForm{Next: requestedPath(r), Message: "Your session has ended: sign in again."})
					return
				}
			}
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
		}
		r.Header.Del("Cookie")
		next.ServeHTTP(w, r)
	})
}

// wantsPage reports whether r is a browser's request for a page (not for
// the console's JSON under api/).
func wantsPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		!strings.HasPrefix(r.URL.Path, AdminPath+"api/") && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// login serves the sign-in form (GET) and signs in (POST): the user-service
// checks the password, and only a token with the admin role is kept, in
// the session cookie; then it redirects to the page asked for.
func (a *adminPages) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		a.page(w, r, http.StatusOK, loginForm{Next: r.URL.Query().Get("next")})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		a.page(w, r, http.StatusBadRequest, loginForm{Message: "The form could not be read."})
		return
	}
	form := loginForm{Email: r.PostForm.Get("email"), Next: r.PostForm.Get("next")}
	var tok users.Token
	err := platform.CallJSON(r.Context(), a.deps.Client, http.MethodPost, a.deps.URL(platform.UserService, "/users/login"), "",
		users.Credentials{Email: form.Email, Password: r.PostForm.Get("password")}, &tok)
	switch st := platform.StatusOf(err); {
	case err == nil:
	case st == http.StatusUnauthorized || st == http.StatusBadRequest:
		form.Message = "Wrong email or password."
		a.page(w, r, http.StatusUnauthorized, form)
		return
	default:
		a.deps.Logger.WarnContext(r.Context(), "admin sign-in: user-service", "err", err)
		form.Message = "Signing in is not possible just now; try again shortly."
		a.page(w, r, http.StatusBadGateway, form)
		return
	}
	claims, err := a.auth.Verify(r.Context(), tok.Token)
	if err != nil {
		a.deps.Logger.WarnContext(r.Context(), "admin sign-in: the user-service's token does not verify", "err", err)
		form.Message = "Signing in is not possible just now; try again shortly."
		a.page(w, r, http.StatusBadGateway, form)
		return
	}
	if role, _ := claims.All[users.RoleClaim].(string); role != platform.RoleAdmin {
		form.Message = "This account is not an administrator."
		a.page(w, r, http.StatusForbidden, form)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok.Token, Path: AdminPath, Expires: claims.ExpiresAt,
		MaxAge: max(1, int(time.Until(claims.ExpiresAt).Seconds())), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, safeNext(form.Next), http.StatusSeeOther)
}

// logout forgets the session cookie. The token itself stays valid until it
// expires, as the API's do: the gateway keeps no sessions.
func (a *adminPages) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w, r)
	http.Redirect(w, r, AdminPath+"login", http.StatusSeeOther)
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: AdminPath, MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// safeNext returns next, cleaned, if it is a page of the console, else
// the overview: a sign-in link must not redirect anywhere else.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return AdminPath
	}
	p, err := gateway.CleanPath(u.EscapedPath())
	if err != nil || !strings.HasPrefix(p+"/", AdminPath) {
		return AdminPath
	}
	if strings.HasSuffix(u.Path, "/") && p != "/" {
		p += "/"
	}
	if p == strings.TrimSuffix(AdminPath, "/") {
		p = AdminPath
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

// requestedPath returns the page r asks for, to come back to after
// signing in.
func requestedPath(r *http.Request) string { return safeNext(r.URL.RequestURI()) }

// keepTrailingSlash gives the console back the trailing slash of the
// client's path. The gateway matches and forwards cleaned paths, which end
// without one, but the console tells its pages apart by it ("/admin/" is
// the overview, "/admin/api/" its JSON): without it the console would
// redirect to the path with the slash, which the gateway cleans again.
func keepTrailingSlash(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil &&
			strings.HasSuffix(u.Path, "/") && !strings.HasSuffix(r.URL.Path, "/") {
			r2 := new(http.Request)
			*r2 = *r
			u2 := *r.URL
			u2.Path, u2.RawPath = r.URL.Path+"/", ""
			r2.URL = &u2
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// loginForm is what the sign-in page shows.
type loginForm struct {
	Email, Next, Message string
	// Action is where the form posts; page sets it.
	Action string
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · shop console</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem 2rem;border:1px solid #dde1e7;border-radius:6px}
h1{font-size:1.2rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.4rem;font:inherit}
button{margin-top:1rem;padding:.45rem 1.2rem;font:inherit}
.error{color:#a11}
</style>
</head>
<body>
<main>
<h1>Shop console</h1>
{{if .Message}}<p class="error" role="alert">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="next" value="{{.Next}}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" value="{{.Email}}" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`))

// page writes the sign-in page with status.
func (a *adminPages) page(w http.ResponseWriter, r *http.Request, status int, f loginForm) {
	var buf bytes.Buffer
	f.Action = AdminPath + "login"
	if err := loginPage.Execute(&buf, f); err != nil {
		gateway.WriteError(w, r, http.StatusInternalServerError, gateway.CodeInternal, "the sign-in page could not be rendered")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
