package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/stat: USER_HZ, 100 a second on
// every architecture Go runs Linux on but alpha.
const userHZ = 100

// cpuTimes is one reading of the machine's CPU time from /proc/stat, in
// USER_HZ ticks summed over every core.
type cpuTimes struct {
	busy  int64 // user, nice, system, irq, softirq, steal
	total int64 // busy plus idle and iowait
	cores int
}

// readCPU reads /proc/stat; it fails where there is none (not Linux).
func readCPU() (cpuTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	defer f.Close()
	return parseProcStat(f)
}

// parseProcStat reads the "cpu" line of /proc/stat and counts the "cpuN"
// lines. The guest times are left out: user and nice already hold them.
func parseProcStat(r io.Reader) (cpuTimes, error) {
	var t cpuTimes
	found := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			t.cores++
			continue
		}
		if len(fields) < 9 {
			return cpuTimes{}, fmt.Errorf("/proc/stat: cpu line has %d fields, want at least 9", len(fields))
		}
		var v [8]int64 // user nice system idle iowait irq softirq steal
		for i := range v {
			n, err := strconv.ParseInt(fields[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: cpu line: %w", err)
			}
			v[i] = n
		}
		t.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		t.total = t.busy + v[3] + v[4]
		found = true
	}
	if err := sc.Err(); err != nil {
		return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
	}
	if !found {
		return cpuTimes{}, errors.New("/proc/stat: no cpu line")
	}
	return t, nil
}

// cpuCost is the machine's CPU time between two readings, per answered
// order, and how busy the machine was.
type cpuCost struct {
	orders   int
	perOrder time.Duration // zero when no order was answered
	busy     float64       // share of every core's time spent busy, 0 to 1
	cores    int
}

// cpuCostOf returns the busy time between the readings before and after
// divided by orders, and the share of the machine it was.
func cpuCostOf(before, after cpuTimes, orders int) cpuCost {
	c := cpuCost{orders: orders, cores: after.cores}
	busy, total := after.busy-before.busy, after.total-before.total
	if total > 0 && busy >= 0 {
		c.busy = float64(busy) / float64(total)
	}
	if orders > 0 && busy > 0 {
		c.perOrder = time.Duration(busy) * time.Second / userHZ / time.Duration(orders)
	}
	return c
}

// String is the line shopload prints under its orders line.
func (c cpuCost) String() string {
	machine := fmt.Sprintf("machine %.0f%% busy over %d cores, every process counted", 100*c.busy, c.cores)
	if c.orders == 0 {
		return "cpu: no orders answered (" + machine + ")"
	}
	return fmt.Sprintf("cpu: %v/order (%s)", c.perOrder.Round(10*time.Microsecond), machine)
}
