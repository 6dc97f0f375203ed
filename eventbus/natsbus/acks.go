package natsbus

import (
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Async publish acknowledgements are tracked with the JetStream context's
// ack and error callbacks rather than with PubAckFuture.Ok/Err, which
// allocate two channels per message: on the publish hot path that was the
// largest cost natsbus added to raw jetstream.

const (
	ackPending uint8 = iota
	ackOK
	ackFailed
)

// pubBatch is the set of messages one Publish call waits for.
type pubBatch struct {
	mu    sync.Mutex
	state []uint8 // by message index
	left  int
	done  chan struct{} // closed when nothing is pending
}

func newPubBatch(n int) *pubBatch {
	return &pubBatch{state: make([]uint8, n), left: n, done: make(chan struct{})}
}

func (pb *pubBatch) settle(i int, state uint8) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.state[i] != ackPending {
		return
	}
	pb.state[i] = state
	pb.left--
	if pb.left == 0 {
		close(pb.done)
	}
}

// acked reports whether message i was acknowledged.
func (pb *pubBatch) acked(i int) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.state[i] == ackOK
}

type pendingAck struct {
	batch *pubBatch
	i     int
}

// ackTracker maps the messages in flight to their batches. It is safe for
// concurrent use: Publish calls add and forget, nats.go's ack goroutine
// settles.
type ackTracker struct {
	mu      sync.Mutex
	pending map[*nats.Msg]pendingAck
}

func newAckTracker() *ackTracker {
	return &ackTracker{pending: make(map[*nats.Msg]pendingAck)}
}

func (t *ackTracker) add(nm *nats.Msg, pb *pubBatch, i int) {
	t.mu.Lock()
	t.pending[nm] = pendingAck{pb, i}
	t.mu.Unlock()
}

// forget drops nms from tracking (a wait ended, or a publish did not start).
func (t *ackTracker) forget(nms ...*nats.Msg) {
	t.mu.Lock()
	for _, nm := range nms {
		delete(t.pending, nm)
	}
	t.mu.Unlock()
}

func (t *ackTracker) settle(nm *nats.Msg, state uint8) {
	t.mu.Lock()
	p, ok := t.pending[nm]
	delete(t.pending, nm)
	t.mu.Unlock()
	if ok {
		p.batch.settle(p.i, state)
	}
}

// options returns the JetStream options that feed the tracker.
func (t *ackTracker) options() []jetstream.JetStreamOpt {
	return []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, nm *nats.Msg, _ *jetstream.PubAck) {
			t.settle(nm, ackOK)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, nm *nats.Msg, _ error) {
			t.settle(nm, ackFailed)
		}),
	}
}
