package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSConfig is the cross-origin policy of the CORS middleware.
type CORSConfig struct {
	// AllowedOrigins are the origins ("https://shop.example") allowed to
	// call; "*" allows any origin and cannot be combined with
	// AllowCredentials. Zero allows no cross-origin call.
	AllowedOrigins []string
	// AllowedMethods answer preflights; zero means GET, HEAD and POST.
	AllowedMethods []string
	// AllowedHeaders answer preflights; zero means the headers the
	// preflight asks for are refused except the CORS-safelisted ones.
	AllowedHeaders []string
	// ExposedHeaders are readable by the browser script; zero means none
	// beyond the safelisted ones.
	ExposedHeaders []string
	// AllowCredentials lets browsers send cookies and Authorization.
	AllowCredentials bool
	// MaxAge is how long browsers may cache a preflight; zero means no
	// Access-Control-Max-Age header.
	MaxAge time.Duration
}

// CORS answers preflight requests and adds the Access-Control-* headers to
// requests from allowed origins. Requests from other origins pass through
// without CORS headers (the browser then blocks the response). The error
// wraps ErrInvalidOption, e.g. for "*" with AllowCredentials.
func CORS(cfg CORSConfig) (Middleware, error) {
	anyOrigin := slices.Contains(cfg.AllowedOrigins, "*")
	if anyOrigin && cfg.AllowCredentials {
		return nil, fmt.Errorf("%w: CORS: AllowedOrigins \"*\" with AllowCredentials", ErrInvalidOption)
	}
	for _, o := range cfg.AllowedOrigins {
		if o != "*" && (!strings.Contains(o, "://") || strings.HasSuffix(o, "/")) {
			return nil, fmt.Errorf("%w: CORS: origin %q: want scheme://host[:port]", ErrInvalidOption, o)
		}
	}
	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("%w: CORS: negative MaxAge", ErrInvalidOption)
	}
	methods := cfg.AllowedMethods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	allowMethods := strings.Join(methods, ", ")
	allowHeaders := strings.Join(cfg.AllowedHeaders, ", ")
	allowedHeader := map[string]bool{}
	for _, h := range cfg.AllowedHeaders {
		allowedHeader[strings.ToLower(h)] = true
	}
	expose := strings.Join(cfg.ExposedHeaders, ", ")
	maxAge := ""
	if cfg.MaxAge > 0 {
		maxAge = strconv.Itoa(int(cfg.MaxAge.Seconds()))
	}
	originOK := func(o string) bool { return anyOrigin || slices.Contains(cfg.AllowedOrigins, o) }
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			h := w.Header()
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			h.Add("Vary", "Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if !originOK(origin) {
				if preflight {
					WriteError(w, r, http.StatusForbidden, CodeForbidden, "origin not allowed")
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			if cfg.AllowCredentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if !preflight {
				if expose != "" {
					h.Set("Access-Control-Expose-Headers", expose)
				}
				next.ServeHTTP(w, r)
				return
			}
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !slices.Contains(methods, r.Header.Get("Access-Control-Request-Method")) {
				WriteError(w, r, http.StatusForbidden, CodeForbidden, "method not allowed by CORS policy")
				return
			}
			for _, name := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
				name = strings.ToLower(strings.TrimSpace(name))
				if name != "" && !allowedHeader[name] && !safelisted(name) {
					WriteError(w, r, http.StatusForbidden, CodeForbidden, "header not allowed by CORS policy")
					return
				}
			}
			h.Set("Access-Control-Allow-Methods", allowMethods)
			if allowHeaders != "" {
				h.Set("Access-Control-Allow-Headers", allowHeaders)
			}
			if maxAge != "" {
				h.Set("Access-Control-Max-Age", maxAge)
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}, nil
}

func safelisted(name string) bool {
	switch name {
	case "accept", "accept-language", "content-language", "content-type":
		return true
	}
	return false
}
