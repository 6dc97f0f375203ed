package discovery_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

func TestStaticConformance(t *testing.T) {
	discoverytest.Run(t, discoverytest.Harness{
		New: func(t *testing.T, seed []discovery.Instance) discovery.Instancer {
			reg := must[*discovery.Static](t)(discovery.NewStatic(seed))
			t.Cleanup(func() { _ = reg.Close(context.Background()) })
			return reg
		},
	})
}

// A fixed list has no writes: Static is a read port only, so that passing
// it where a registry is written (Announce) does not compile.
func TestStaticIsNoRegistrar(t *testing.T) {
	var reg discovery.Instancer = must[*discovery.Static](t)(discovery.NewStatic(nil))
	if _, ok := reg.(discovery.Registrar); ok {
		t.Fatal("Static implements Registrar")
	}
}

func TestParseStatic(t *testing.T) {
	tests := []struct {
		spec    string
		want    []string // ID/weight pairs
		wantErr bool
	}{
		{spec: "", want: nil},
		{spec: "a=10.0.0.1:80", want: []string{"a@10.0.0.1:80/1"}},
		{spec: " a = 10.0.0.1:80 , 10.0.0.2:81*3 ; b=[::1]:9000\n", want: []string{"a@10.0.0.1:80/1", "a@10.0.0.2:81/3", "b@[::1]:9000/1"}},
		{spec: "a=host.internal:8080;;", want: []string{"a@host.internal:8080/1"}},
		{spec: "a=10.0.0.1", wantErr: true},
		{spec: "a=10.0.0.1:0", wantErr: true},
		{spec: "a=10.0.0.1:99999", wantErr: true},
		{spec: "a=10.0.0.1:80*0", wantErr: true},
		{spec: "a=10.0.0.1:80*x", wantErr: true},
		{spec: "=10.0.0.1:80", wantErr: true},
		{spec: "10.0.0.1:80", wantErr: true},
		{spec: "a=10.0.0.1:80,10.0.0.1:80", wantErr: true},
		{spec: "a=", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := discovery.ParseStatic(tt.spec)
			if tt.wantErr {
				if !errors.Is(err, discovery.ErrInvalidInstance) {
					t.Fatalf("got %v, %v; want ErrInvalidInstance", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, in := range got {
				gotIDs = append(gotIDs, in.ID+"/"+string(rune('0'+in.EffectiveWeight())))
			}
			if len(gotIDs) != len(tt.want) {
				t.Fatalf("got %v, want %v", gotIDs, tt.want)
			}
			for i := range gotIDs {
				if gotIDs[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", gotIDs, tt.want)
				}
			}
		})
	}
}

func TestStaticFromEnv(t *testing.T) {
	t.Setenv("TEST_DISCOVERY_STATIC", "product-service=127.0.0.1:8081,127.0.0.1:8082")
	reg := must[*discovery.Static](t)(discovery.StaticFromEnv("TEST_DISCOVERY_STATIC"))
	got := must[[]discovery.Instance](t)(reg.Instances(context.Background(), "product-service"))
	if len(got) != 2 || got[0].Port != 8081 || got[1].Port != 8082 {
		t.Fatalf("got %v", got)
	}
	t.Setenv("TEST_DISCOVERY_STATIC", "broken")
	if _, err := discovery.StaticFromEnv("TEST_DISCOVERY_STATIC"); !errors.Is(err, discovery.ErrInvalidInstance) {
		t.Fatalf("broken spec: %v", err)
	}
}

func TestNewStaticRejectsDuplicates(t *testing.T) {
	if _, err := discovery.NewStatic([]discovery.Instance{inst("s", 0), inst("s", 0)}); !errors.Is(err, discovery.ErrInvalidInstance) {
		t.Fatalf("duplicate IDs: %v", err)
	}
}

func FuzzParseStatic(f *testing.F) {
	for _, seed := range []string{
		"a=10.0.0.1:80", "a=10.0.0.1:80,10.0.0.2:81*3;b=[::1]:9000", "a=", "=:", "a=[::1]:1*", "a=x:1\nb=y:2", "a=h:65535*100",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		instances, err := discovery.ParseStatic(spec)
		if err != nil {
			if !errors.Is(err, discovery.ErrInvalidInstance) {
				t.Fatalf("error does not wrap ErrInvalidInstance: %v", err)
			}
			return
		}
		for _, in := range instances {
			if err := in.Validate(); err != nil {
				t.Fatalf("ParseStatic(%q) returned an invalid instance: %v", spec, err)
			}
		}
		if _, err := discovery.NewStatic(instances); err != nil {
			t.Fatalf("NewStatic of parsed instances: %v", err)
		}
	})
}
