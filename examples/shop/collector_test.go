package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collectedSpan is one span an OTLP exporter sent, with the service.name
// of the process that sent it.
type collectedSpan struct {
	Service string
	Name    string
	Kind    tracepb.Span_SpanKind
}

func (s collectedSpan) String() string {
	return fmt.Sprintf("%s: %s %s", s.Service, strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"), s.Name)
}

// otlpCollector is an OTLP/HTTP (protobuf) trace receiver: the services of
// the cluster export to it as they would to an OpenTelemetry Collector, and
// the test reads back the spans of one trace.
type otlpCollector struct {
	URL string

	mu      sync.Mutex
	byTrace map[string][]collectedSpan // by hex trace id
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{byTrace: map[string][]collectedSpan{}}
	srv := httptest.NewServer(http.HandlerFunc(c.serveHTTP))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *otlpCollector) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, 64<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				id := hex.EncodeToString(s.GetTraceId())
				c.byTrace[id] = append(c.byTrace[id], collectedSpan{Service: service, Name: s.GetName(), Kind: s.GetKind()})
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(out))
}

// trace returns the spans received so far for the hex trace id.
func (c *otlpCollector) trace(id string) []collectedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byTrace[id])
}
