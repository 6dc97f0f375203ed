package gateway

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
)

// Middleware wraps an http.Handler; it is the unit the gateway composes.
type Middleware func(http.Handler) http.Handler

// Chain composes middleware into one, outermost first:
// Chain(a, b)(h) is a(b(h)).
func Chain(m ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(m) - 1; i >= 0; i-- {
			h = m[i](h)
		}
		return h
	}
}

// Recover turns a panic in the wrapped handler into a 500 JSON error (when
// nothing was written yet) and an error log with the stack, so that one bad
// request cannot take the gateway down. http.ErrAbortHandler is re-raised:
// it is how a handler aborts a response on purpose. A nil logger means
// slog.Default.
func Recover(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &responseWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel itself is panicked
					panic(v)
				}
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				logger.LogAttrs(r.Context(), slog.LevelError, "gateway: panic",
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(buf)),
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.String("request_id", RequestIDFromContext(r.Context())))
				if !rw.wroteHeader {
					WriteError(rw, r, http.StatusInternalServerError, CodeInternal, "internal error")
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// BodyLimit caps request bodies at maxBytes: a request that declares a
// larger Content-Length gets 413 at once, and one that streams more is cut
// off, which the proxy answers with 413 too.
func BodyLimit(maxBytes int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > maxBytes {
				WriteError(w, r, http.StatusRequestEntityTooLarge, CodeTooLarge, "request body too large")
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// HeaderLimit answers 431 when the request's header fields (names, values
// and the request line) add up to more than maxBytes. NewServer also sets
// http.Server.MaxHeaderBytes; this middleware gives the same guard, with a
// JSON answer, where the gateway is mounted in a server it does not own.
func HeaderLimit(maxBytes int) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := len(r.Method) + len(r.RequestURI) + len(r.Host) + 16
			for k, vs := range r.Header {
				for _, v := range vs {
					n += len(k) + len(v) + 4
				}
			}
			if n > maxBytes {
				WriteError(w, r, http.StatusRequestHeaderFieldsTooLarge, CodeHeadersTooLarge, "request headers too large")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// responseWriter records the status and size of a response. It keeps the
// optional interfaces of the wrapped writer reachable through Unwrap (for
// http.ResponseController) and implements Flusher and Hijacker itself,
// which httputil.ReverseProxy needs for streaming and protocol upgrades.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
