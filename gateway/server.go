package gateway

import (
	"net/http"
	"time"
)

// NewServer returns an http.Server for h with the timeouts and limits a
// front door needs and net/http leaves unset: 10 s to read the request
// headers, 1 minute of idle keep-alive, and 16 KiB of request headers
// (larger ones get 431). The write timeout stays zero so that streamed
// responses are not cut; per-route Timeout bounds upstream calls.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
