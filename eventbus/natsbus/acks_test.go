package natsbus

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestAckTracker(t *testing.T) {
	tr := newAckTracker()
	pb := newPubBatch(3)
	msgs := []*nats.Msg{{Subject: "a"}, {Subject: "b"}, {Subject: "c"}}
	for i, m := range msgs {
		tr.add(m, pb, i)
	}
	tr.settle(msgs[0], ackOK)
	tr.settle(msgs[0], ackFailed) // a second settlement of one message is ignored
	tr.settle(msgs[1], ackFailed)
	select {
	case <-pb.done:
		t.Fatal("done with a message pending")
	default:
	}
	tr.forget(msgs[2])
	tr.settle(msgs[2], ackOK) // settled after its wait ended: ignored
	if !pb.acked(0) || pb.acked(1) || pb.acked(2) {
		t.Fatalf("states %v", pb.state)
	}
	pb.settle(2, ackFailed)
	select {
	case <-pb.done:
	default:
		t.Fatal("not done with every message settled")
	}
	if len(tr.pending) != 0 {
		t.Fatalf("%d messages still tracked", len(tr.pending))
	}
}
