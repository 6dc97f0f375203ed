package consul_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/internal/consultest"
)

func TestNewValidatesClientOptions(t *testing.T) {
	invalid := map[string]consul.Option{
		"unknown scheme":          consul.WithAddress("ftp://127.0.0.1:8500"),
		"scheme without host":     consul.WithAddress("http://"),
		"port without host":       consul.WithAddress(":8500"),
		"bad port":                consul.WithAddress("127.0.0.1:http"),
		"query":                   consul.WithAddress("http://127.0.0.1:8500?dc=dc1"),
		"user":                    consul.WithAddress("https://me:pw@consul:8501"),
		"path without scheme":     consul.WithAddress("127.0.0.1:8500/consul"),
		"relative socket":         consul.WithAddress("unix://consul.sock"),
		"token with a newline":    consul.WithToken("s3cret\n"),
		"token with a space":      consul.WithToken("s3 cret"),
		"datacenter with a slash": consul.WithDatacenter("dc1/x"),
		"datacenter with a space": consul.WithDatacenter("dc 1"),
		"datacenter with a query": consul.WithDatacenter("dc1&stale"),
	}
	for name, opt := range invalid {
		if reg, err := consul.New(nil, opt); reg != nil || !errors.Is(err, discovery.ErrInvalidOption) {
			t.Errorf("%s: New = %v, %v; want an error wrapping ErrInvalidOption", name, reg, err)
		}
	}

	valid := map[string]consul.Option{
		"host and port":        consul.WithAddress("127.0.0.1:8500"),
		"host alone":           consul.WithAddress("consul.service.consul"),
		"IPv6":                 consul.WithAddress("[::1]:8500"),
		"http":                 consul.WithAddress("http://consul:8500"),
		"https":                consul.WithAddress("https://consul:8501"),
		"reverse proxy prefix": consul.WithAddress("https://gateway.example.com/consul"),
		"unix socket":          consul.WithAddress("unix:///var/run/consul.sock"),
		"empty address":        consul.WithAddress(""),
		"token":                consul.WithToken("b1gs3cr3t-0000-1111"),
		"empty token":          consul.WithToken(""),
		"datacenter":           consul.WithDatacenter("eu-west_1.a"),
		"empty datacenter":     consul.WithDatacenter(""),
		"nil logger":           consul.WithLogger(nil),
	}
	for name, opt := range valid {
		if _, err := consul.New(nil, opt); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The client options reach the requests and win over the CONSUL_*
// variables and the Config given to New, which New leaves alone.
func TestClientOptionsWinOverConfigAndEnvironment(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		w.Header().Set("X-Consul-Index", "7")
		_, _ = w.Write([]byte("[]"))
	}))
	defer srv.Close()
	t.Setenv("CONSUL_HTTP_ADDR", "127.0.0.1:1") // nothing listens there
	t.Setenv("CONSUL_HTTP_TOKEN", "from-env")
	cfg := api.DefaultConfig()
	cfg.Token, cfg.Datacenter = "from-config", "dc-config"
	before := *cfg

	reg, err := consul.New(cfg, consul.WithAddress(srv.URL), consul.WithToken("from-option"), consul.WithDatacenter("dc2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Instances(t.Context(), "orders"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("the server saw %d requests, want 1", len(seen))
	}
	r := seen[0]
	if got := r.Header.Get("X-Consul-Token"); got != "from-option" {
		t.Errorf("token %q, want from-option", got)
	}
	if got := r.URL.Query().Get("dc"); got != "dc2" {
		t.Errorf("dc %q, want dc2", got)
	}
	if cfg.Address != before.Address || cfg.Token != before.Token || cfg.Datacenter != before.Datacenter || cfg.HttpClient != nil {
		t.Errorf("New modified the caller's Config: %+v, was %+v", *cfg, before)
	}
}

// WithAddress and WithDatacenter against a real agent (a dev agent's
// datacenter is dc1), with no Config.
func TestClientOptionsOnAnAgent(t *testing.T) {
	agent := consultest.StartAgent(t)
	ctx := t.Context()
	service := "client-options"
	for _, addr := range []string{agent.Addr(), "http://" + agent.Addr()} {
		t.Run(addr, func(t *testing.T) {
			reg, err := consul.New(nil, consul.WithAddress(addr), consul.WithDatacenter("dc1"), consul.WithLogger(quietLogger))
			if err != nil {
				t.Fatal(err)
			}
			cleanupService(t, reg, service)
			if err := reg.Register(ctx, instance(service, 1, 9000)); err != nil {
				t.Fatal(err)
			}
			got, err := reg.Instances(ctx, service)
			if err != nil || len(got) != 1 || got[0].ID != service+"-1" {
				t.Fatalf("Instances = %v, %v; want %s-1", ids(got), err, service)
			}
		})
	}

	elsewhere, err := consul.New(nil, consul.WithAddress(agent.Addr()), consul.WithDatacenter("dc-nowhere"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elsewhere.Instances(ctx, service); err == nil || !strings.Contains(err.Error(), "dc-nowhere") && !strings.Contains(err.Error(), "datacenter") {
		t.Fatalf("Instances in an unknown datacenter = %v, want Consul's refusal", err)
	}
}
