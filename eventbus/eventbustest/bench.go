package eventbustest

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

// RunBatchBenchmark measures a Router's consume throughput on the adapter
// that connect reaches, a batch handler (HandleBatch, batches of
// eventbus.DefaultBatchSize) against a single-message handler (Handle),
// both with one worker. Each sub-benchmark publishes b.N messages to a
// group that has no consumer running, then times a router handling them
// all; it reports msgs/s. The workloads:
//
//   - insert: the handler decodes each message and writes its rows to a
//     store over a loopback TCP connection, one request and one reply per
//     call whatever the number of rows, as a multi-row INSERT: a batch
//     handler pays the call once per batch, a single-message handler once
//     per message. The store answers each call StoreLatency after it read
//     it, standing for a database's commit and network round trip; the
//     store-µs/call metric reports what a call took, end to end. It is
//     the work that batches well, and the reason to use a batch handler.
//   - insert-loopback: the same store answering at once, so that a call
//     costs only the loopback round trip (tens of microseconds): the least
//     a batch can save.
//   - noop: the handler does nothing, so the figures are what the router
//     and the adapter cost per message, batched or not.
//   - noop-chain: the same under Correlate, DeadLetter, Retry and Timeout,
//     which a batch runs per message (a goroutine each).
func RunBatchBenchmark(b *testing.B, connect func(b *testing.B) Instance) {
	for _, w := range []string{"insert", "insert-loopback", "noop", "noop-chain"} {
		for _, batched := range []bool{false, true} {
			name := w + "/single"
			if batched {
				name = w + "/batch"
			}
			b.Run(name, func(b *testing.B) { benchConsume(b, connect(b), w, batched) })
		}
	}
}

// StoreLatency is how long RunBatchBenchmark's store of the insert
// workload takes to answer a call, whatever the number of rows: about a
// small database's commit and network round trip.
const StoreLatency = time.Millisecond

type benchRow struct {
	N int `json:"n"`
}

// tcpStore writes rows to a server on a loopback TCP connection: a
// request of 8 bytes a row, after a 4-byte count, and a 1-byte reply once
// the server has read them all.
type tcpStore struct {
	mu    sync.Mutex
	conn  net.Conn
	buf   []byte
	rows  int
	calls int
	spent time.Duration // in calls, end to end
}

// newTCPStore starts the server, which answers each call latency after it
// read it, and connects to it; the func it returns stops both.
func newTCPStore(b *testing.B, latency time.Duration) (*tcpStore, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var head [4]byte
		rows := make([]byte, 0, 8*1024)
		for {
			if _, err := io.ReadFull(r, head[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(head[:]))
			rows = slices.Grow(rows[:0], 8*n)[:8*n]
			if _, err := io.ReadFull(r, rows); err != nil {
				return
			}
			if latency > 0 {
				time.Sleep(latency)
			}
			if _, err := c.Write([]byte{1}); err != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return &tcpStore{conn: conn}, func() {
		_ = conn.Close()
		_ = ln.Close()
		<-served
	}
}

func (s *tcpStore) insert(rows []benchRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	defer func() { s.calls, s.spent = s.calls+1, s.spent+time.Since(start) }()
	s.buf = binary.BigEndian.AppendUint32(s.buf[:0], uint32(len(rows)))
	for _, r := range rows {
		s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(r.N))
	}
	if _, err := s.conn.Write(s.buf); err != nil {
		return err
	}
	var ack [1]byte
	if _, err := io.ReadFull(s.conn, ack[:]); err != nil {
		return err
	}
	s.rows += len(rows)
	return nil
}

func benchConsume(b *testing.B, in Instance, workload string, batched bool) {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = in.Subscriber.Close(ctx)
		_ = in.Publisher.Close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := prefix()
	pattern := p + ".row.added"
	// The group exists before the messages are published, so that it
	// keeps them; its router starts once they are all stored.
	sn, err := in.Subscriber.Subscribe(ctx, "bench", pattern)
	if err != nil {
		b.Fatal(err)
	}
	_ = sn.Close()
	const chunk = 500
	for sent := 0; sent < b.N; sent += chunk {
		msgs := make([]*eventbus.Message, min(chunk, b.N-sent))
		for i := range msgs {
			msgs[i] = msg(pattern, "", sent+i)
		}
		if err := in.Publisher.Publish(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
	}

	var (
		handled atomic.Int64
		calls   atomic.Int64 // handler calls
		all     = make(chan struct{})
	)
	latency := time.Duration(0)
	if workload == "insert" {
		latency = StoreLatency
	}
	store, stopStore := newTCPStore(b, latency)
	defer stopStore()
	count := func(n int) {
		calls.Add(1)
		if handled.Add(int64(n)) == int64(b.N) {
			close(all)
		}
	}
	var opts []eventbus.RouterOption
	if workload == "noop-chain" {
		opts = append(opts, eventbus.WithMiddleware(
			eventbus.Correlate(),
			eventbus.DeadLetter(in.Publisher, eventbus.DeadLetterLogger(quietLogger())),
			eventbus.Retry(retry.Policy{MaxAttempts: 3}),
			eventbus.Timeout(time.Minute),
		))
	}
	r, err := eventbus.NewRouter(in.Subscriber, "bench", append(opts, eventbus.WithLogger(quietLogger()))...)
	if err != nil {
		b.Fatal(err)
	}
	if batched {
		err = r.HandleBatch(pattern, func(ctx context.Context, msgs []*eventbus.Message) error {
			if strings.HasPrefix(workload, "insert") {
				rows := make([]benchRow, len(msgs))
				for i, m := range msgs {
					if rows[i], err = eventbus.Decode[benchRow](m); err != nil {
						return err
					}
				}
				if err := store.insert(rows); err != nil {
					return err
				}
			}
			count(len(msgs))
			return nil
		})
	} else {
		err = r.Handle(pattern, func(ctx context.Context, m *eventbus.Message) error {
			if strings.HasPrefix(workload, "insert") {
				row, err := eventbus.Decode[benchRow](m)
				if err != nil {
					return err
				}
				if err := store.insert([]benchRow{row}); err != nil {
					return err
				}
			}
			count(1)
			return nil
		})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case <-all:
	case <-ctx.Done():
		b.Fatalf("handled %d of %d", handled.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := r.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if strings.HasPrefix(workload, "insert") && store.rows != b.N {
		b.Fatalf("store holds %d rows, want %d", store.rows, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/float64(calls.Load()), "msgs/call")
	if store.calls > 0 {
		b.ReportMetric(float64(store.spent.Microseconds())/float64(store.calls), "store-µs/call")
	}
}
