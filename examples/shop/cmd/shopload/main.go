// Command shopload places orders through the shop's gateway from several
// concurrent users and reports orders/s and p50/p99 latency, with a progress
// line every second. Given the shop's PostgreSQL database with -pg, it also
// reports what an order cost the database, from two readings of
// pg_stat_database: one before the first order, one after the last. On
// Linux it reports the machine's CPU time per order, from /proc/stat. With
// -runs it repeats the load and ends with the median of each figure.
//
//	go run ./examples/shop/cmd/shopload -gateway http://127.0.0.1:8080 -duration 10s -concurrency 8
//	go run ./examples/shop/cmd/shopload -gateway http://127.0.0.1:8080 -runs 3 -pg postgres://...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shopload:", err)
		os.Exit(1)
	}
}

// stats collects the outcome of every order. It is safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	byOutcome map[string]int
}

func (s *stats) add(d time.Duration, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if outcome == "confirmed" || outcome == "cancelled" {
		s.latencies = append(s.latencies, d)
	}
	s.byOutcome[outcome]++
}

// summary returns the orders answered (confirmed or cancelled), the
// outcome counts and the p50 and p99 latencies of answered orders.
func (s *stats) summary() (n int, outcomes string, p50, p99 time.Duration) {
	s.mu.Lock()
	lat := slices.Clone(s.latencies)
	keys := make([]string, 0, len(s.byOutcome))
	for k := range s.byOutcome {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.byOutcome[k]))
	}
	s.mu.Unlock()
	slices.Sort(lat)
	return len(lat), strings.Join(parts, ", "), percentile(lat, 0.50), percentile(lat, 0.99)
}

// failed returns how many orders were not answered: a transport error or
// an error status.
func (s *stats) failed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.byOutcome {
		if k != "confirmed" && k != "cancelled" {
			n += c
		}
	}
	return n
}

// rateLimited returns how many orders the gateway refused with 429.
func (s *stats) rateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.byOutcome {
		if strings.HasPrefix(k, fmt.Sprintf("http %d ", http.StatusTooManyRequests)) {
			n += c
		}
	}
	return n
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	if i < 1 {
		i = 1
	}
	if i > len(sorted) {
		i = len(sorted)
	}
	return sorted[i-1]
}

// config is what the flags say.
type config struct {
	duration     time.Duration
	concurrency  int
	products     []string
	declineShare float64
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shopload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", "http://127.0.0.1:8080", "the shop's gateway URL")
	duration := fs.Duration("duration", 10*time.Second, "how long to place orders, in each run")
	concurrency := fs.Int("concurrency", 8, "orders in flight at once")
	users := fs.Int("users", 4, "distinct users the orders are spread over")
	products := fs.String("products", "p-keyboard,p-mouse,p-monitor", "products to order, comma-separated")
	declineShare := fs.Float64("declines", 0.05, "share of orders over the payment limit (declined, compensated)")
	runs := fs.Int("runs", 1, "runs of -duration each, one after another; with more than one, a last line gives the median of each figure")
	pgDSN := fs.String("pg", "", "the shop's PostgreSQL database `URL`: when set, also report its transactions, new sessions, blocks and rows written per order, from pg_stat_database (PostgreSQL 14+)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *concurrency < 1 || *users < 1 || *duration <= 0 || *runs < 1 {
		return errors.New("-concurrency, -users, -duration and -runs must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency * 2}, Timeout: 60 * time.Second}
	clients := make([]*shoptest.Client, *users)
	started := time.Now().UnixNano()
	for i := range clients {
		clients[i] = &shoptest.Client{Base: strings.TrimSuffix(*gateway, "/"), HTTP: hc}
		email := fmt.Sprintf("load-%d-%d@shop.test", started, i)
		if err := clients[i].SignUpAndLogin(ctx, email, "load-password"); err != nil {
			return fmt.Errorf("user %d: %w", i, err)
		}
	}
	var pg *pgSampler
	var pgBefore pgCounters
	if *pgDSN != "" {
		var err error
		if pg, err = dialPG(ctx, *pgDSN); err != nil {
			return err
		}
		defer pg.close(context.WithoutCancel(ctx))
		if pgBefore, err = pg.sample(ctx); err != nil {
			return err
		}
	}
	cfg := config{duration: *duration, concurrency: *concurrency, products: strings.Split(*products, ","), declineShare: *declineShare}
	var results []result
	for i := 0; i < *runs && ctx.Err() == nil; i++ {
		res := load(ctx, cfg, clients, stderr)
		fmt.Fprintln(stdout, res)
		if res.cpuErr == nil {
			fmt.Fprintln(stdout, res.cpu)
		}
		if limited := res.stats.rateLimited(); limited > 0 {
			// Otherwise the figures read as the shop's speed when they are the
			// rate limit's.
			fmt.Fprintf(stderr, "shopload: the gateway rate-limited %d orders (429): it allows -rate-limit requests a minute per user "+
				"(1000 by default); to measure throughput, start the shop with -rate-limit 1000000 or raise -users\n", limited)
		}
		if pg != nil {
			fmt.Fprintf(stderr, "shopload: waiting %v for PostgreSQL to publish its last counters\n", pgSettle)
			time.Sleep(pgSettle)
			// An interrupt ends the load, not the report.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			pgAfter, err := pg.sample(sctx)
			cancel()
			if err != nil {
				return err
			}
			cost, err := costOf(pgBefore, pgAfter, res.orders)
			if err != nil {
				return err
			}
			// The reading after this run is the one before the next.
			res.pg, res.hasPG, pgBefore = cost, true, pgAfter
			fmt.Fprintln(stdout, cost)
		}
		results = append(results, res)
	}
	if len(results) > 1 {
		fmt.Fprintln(stdout, medianOf(results))
	}
	return nil
}

// result is what one run measured.
type result struct {
	stats       *stats
	orders      int // answered: confirmed or cancelled
	failed      int // not answered: transport errors and error statuses
	elapsed     time.Duration
	p50, p99    time.Duration
	outcomes    string
	concurrency int
	users       int
	cpu         cpuCost
	cpuErr      error // no /proc/stat
	pg          pgCost
	hasPG       bool
}

// ordersPerSecond is the rate of answered orders.
func (r result) ordersPerSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.orders) / r.elapsed.Seconds()
}

// String is the run's orders line.
func (r result) String() string {
	return fmt.Sprintf("orders: %d in %.1fs = %.1f orders/s, p50 %v, p99 %v (concurrency %d, %d users) [%s]",
		r.orders, r.elapsed.Seconds(), r.ordersPerSecond(), r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond),
		r.concurrency, r.users, r.outcomes)
}

// load places orders from cfg.concurrency workers for cfg.duration, with a
// progress line on progress every second, and returns what it measured.
func load(ctx context.Context, cfg config, clients []*shoptest.Client, progress io.Writer) result {
	st := &stats{byOutcome: map[string]int{}}
	deadline, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	// Where there is no /proc/stat, shopload leaves out the cpu line.
	cpuBefore, cpuErr := readCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		c := clients[w%len(clients)]
		wg.Go(func() {
			for deadline.Err() == nil {
				item := shoptest.Item{ProductID: cfg.products[rand.IntN(len(cfg.products))], Quantity: 1}
				if rand.Float64() < cfg.declineShare {
					item = shoptest.Item{ProductID: "p-laptop", Quantity: 1}
				}
				t0 := time.Now()
				r, err := c.PlaceOrder(ctx, "", item)
				d := time.Since(t0)
				outcome := "error"
				switch {
				case err != nil:
				case r.Status == http.StatusCreated:
					var o shoptest.Order
					if r.Decode(&o) == nil {
						outcome = o.Status
					}
				default:
					outcome = fmt.Sprintf("http %d %s", r.Status, r.ErrorCode())
				}
				st.add(d, outcome)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	line := func(final bool) {
		n, outcomes, p50, p99 := st.summary()
		el := time.Since(start).Seconds()
		end := "\r"
		if final {
			end = "\n"
		}
		fmt.Fprintf(progress, "%5.1fs  %6d orders  %7.1f orders/s  p50 %-8v p99 %-8v  [%s]\033[K%s",
			el, n, float64(n)/el, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), outcomes, end)
	}
	for {
		select {
		case <-tick.C:
			line(false)
			continue
		case <-done:
		}
		break
	}
	cpuAfter, err := readCPU()
	line(true)
	res := result{stats: st, elapsed: time.Since(start), concurrency: cfg.concurrency, users: len(clients), cpuErr: errors.Join(cpuErr, err)}
	res.orders, res.outcomes, res.p50, res.p99 = st.summary()
	res.failed = st.failed()
	if res.cpuErr == nil {
		res.cpu = cpuCostOf(cpuBefore, cpuAfter, res.orders)
	}
	return res
}

// medianOf returns the line that gives the median of each figure of the
// runs (each figure's own median: they may come from different runs).
func medianOf(runs []result) string {
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d runs: %.1f orders/s, p50 %.1fms, p99 %.1fms, %.0f failed",
		len(runs), med(result.ordersPerSecond), med(func(r result) float64 { return ms(r.p50) }),
		med(func(r result) float64 { return ms(r.p99) }), med(func(r result) float64 { return float64(r.failed) }))
	if runs[0].cpuErr == nil {
		fmt.Fprintf(&b, ", cpu %.2fms/order", med(func(r result) float64 { return ms(r.cpu.perOrder) }))
	}
	if runs[0].hasPG {
		fmt.Fprintf(&b, ", postgres %.2f transactions/order, %.3f new sessions/order",
			med(func(r result) float64 { return r.pg.transactionsPerOrder }), med(func(r result) float64 { return r.pg.sessionsPerOrder }))
	}
	return b.String()
}
