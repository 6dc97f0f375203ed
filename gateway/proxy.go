package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// proxyError answers a failed proxy attempt with a JSON error the client can
// read: the status of the client's own fault (a *ClientError: 400, 408,
// 413), 503 when no upstream could be tried (no instance, breaker open), 504
// on a timeout, 502 otherwise. The cause is logged, never sent to the
// client.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	var fault *ClientError
	isFault := errors.As(err, &fault)
	if !isFault && r.Context().Err() == context.Canceled && !errors.Is(err, context.DeadlineExceeded) {
		isFault, status = true, StatusClientClosedRequest
	}
	switch {
	case isFault:
		// Logged like the client errors they are, not as upstream
		// trouble; nobody reads a 499.
		g.cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "gateway: client fault",
			slog.String("route", RouteFromContext(r.Context())), slog.Int("status", status),
			slog.String("error", err.Error()), slog.String("request_id", RequestIDFromContext(r.Context())))
		if status != StatusClientClosedRequest {
			// The request's framing is broken or unfinished: the
			// connection cannot carry another request.
			w.Header().Set("Connection", "close")
		}
	case status >= 500:
		g.cfg.logger.LogAttrs(r.Context(), slog.LevelWarn, "gateway: upstream error",
			slog.String("route", RouteFromContext(r.Context())), slog.Int("status", status),
			slog.String("error", err.Error()), slog.String("request_id", RequestIDFromContext(r.Context())))
	}
	if status == http.StatusServiceUnavailable {
		retry := 1
		var open *breaker.OpenError
		if errors.As(err, &open) {
			if d := open.RetryAfter(time.Now()); d > time.Second {
				retry = int((d + time.Second - 1) / time.Second)
			}
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	WriteError(w, r, status, code, msg)
}

func classify(err error) (int, string, string) {
	var fault *ClientError
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &fault):
		code, msg := fault.code()
		return fault.Status, code, msg
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, CodeTooLarge, "request body too large"
	case errors.Is(err, ErrNoUpstream), errors.Is(err, ErrUpstreamUnavailable):
		return http.StatusServiceUnavailable, CodeUpstreamUnavailable, "upstream unavailable"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return http.StatusGatewayTimeout, CodeUpstreamTimeout, "upstream timed out"
	default:
		return http.StatusBadGateway, CodeBadGateway, "upstream unreachable"
	}
}

// bufferPool lends the 32 KiB copy buffers of httputil.ReverseProxy, so
// that a proxied response does not allocate one. It is a buffered channel
// rather than a sync.Pool: the ReverseProxy hands buffers back as []byte,
// and putting a slice into a sync.Pool allocates its header every time.
type bufferPool struct{ free chan []byte }

func (b *bufferPool) Get() []byte {
	select {
	case buf := <-b.free:
		return buf
	default:
		return make([]byte, 32<<10)
	}
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) < 32<<10 {
		return
	}
	select {
	case b.free <- buf[:32<<10]:
	default: // enough spares; let the GC have it
	}
}

// sharedBufferPool keeps up to 256 spare buffers (8 MiB).
var sharedBufferPool = &bufferPool{free: make(chan []byte, 256)}

// dropOwnedHeaders removes from an upstream's response every header that
// the gateway's middleware already set on the response before proxying
// (X-Request-Id, the CORS headers): the proxy adds the upstream's headers
// to the gateway's, so an upstream that echoes the request id, or answers
// CORS itself, would otherwise send the client two values, which clients
// read as one invalid or comma-joined value. The gateway's value wins.
// Vary and Set-Cookie are lists to which both sides contribute, and are
// kept from both.
func dropOwnedHeaders(resp *http.Response) error {
	m, _ := resp.Request.Context().Value(matchKey).(*match)
	if m == nil {
		return nil
	}
	for k := range m.response {
		if k != "Vary" && k != "Set-Cookie" {
			delete(resp.Header, k)
		}
	}
	return nil
}
