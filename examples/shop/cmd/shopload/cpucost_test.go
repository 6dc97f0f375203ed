package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    cpuTimes
		wantErr string
	}{
		{
			name: "two cores",
			in: "cpu  100 5 40 800 20 3 2 1 50 0\n" +
				"cpu0 50 2 20 400 10 1 1 0 25 0\n" +
				"cpu1 50 3 20 400 10 2 1 1 25 0\n" +
				"intr 12345 0 0\nctxt 999\n",
			want: cpuTimes{busy: 100 + 5 + 40 + 3 + 2 + 1, total: 100 + 5 + 40 + 3 + 2 + 1 + 800 + 20, cores: 2},
		},
		{
			name: "no guest fields (older kernels)",
			in:   "cpu  10 0 10 70 5 1 1 0\ncpu0 10 0 10 70 5 1 1 0\n",
			want: cpuTimes{busy: 22, total: 97, cores: 1},
		},
		{name: "no cpu line", in: "cpu0 1 2 3 4 5 6 7 8\nintr 1\n", wantErr: "no cpu line"},
		{name: "short cpu line", in: "cpu  1 2 3 4\n", wantErr: "5 fields"},
		{name: "not a number", in: "cpu  1 2 x 4 5 6 7 8\n", wantErr: "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseProcStat error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseProcStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestCPUCostOf(t *testing.T) {
	before := cpuTimes{busy: 1000, total: 4000, cores: 2}
	tests := []struct {
		name   string
		after  cpuTimes
		orders int
		want   cpuCost
		line   string
	}{
		{
			// 150 ticks busy of 200: 1.5 s of CPU over 100 orders.
			name: "per order", after: cpuTimes{busy: 1150, total: 4200, cores: 2}, orders: 100,
			want: cpuCost{orders: 100, perOrder: 15 * time.Millisecond, busy: 0.75, cores: 2},
			line: "cpu: 15ms/order (machine 75% busy over 2 cores, every process counted)",
		},
		{
			name: "zero orders", after: cpuTimes{busy: 1050, total: 4200, cores: 2}, orders: 0,
			want: cpuCost{busy: 0.25, cores: 2},
			line: "cpu: no orders answered (machine 25% busy over 2 cores, every process counted)",
		},
		{
			name: "no time passed", after: before, orders: 3,
			want: cpuCost{orders: 3, cores: 2},
			line: "cpu: 0s/order (machine 0% busy over 2 cores, every process counted)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cpuCostOf(before, tt.after, tt.orders)
			if got != tt.want {
				t.Errorf("cpuCostOf = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.line {
				t.Errorf("line = %q\nwant   %q", got.String(), tt.line)
			}
		})
	}
}

func TestReadCPU(t *testing.T) {
	got, err := readCPU()
	if err != nil {
		t.Skipf("no /proc/stat here: %v", err)
	}
	if got.cores < 1 || got.busy <= 0 || got.total < got.busy {
		t.Errorf("readCPU = %+v, want at least one core and busy <= total", got)
	}
}
