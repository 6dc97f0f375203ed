package eventbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Metadata keys DeadLetter sets on a parked message.
const (
	MetaDeadLetterReason       = "deadletter-reason"
	MetaDeadLetterOriginalType = "deadletter-original-type"
	MetaDeadLetterOriginalID   = "deadletter-original-id"
	MetaDeadLetterAttempts     = "deadletter-attempts"
	MetaDeadLetterHandler      = "deadletter-handler"
	MetaDeadLetterGroup        = "deadletter-group"
	MetaDeadLetterTime         = "deadletter-time"
)

// DeadLetterID returns a new ID for a dead letter of the message whose ID
// is id: id, ".deadletter." and 16 random hex digits, so that it sorts and
// reads next to the original and is unique per failure.
func DeadLetterID(id string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return id + ".deadletter." + hex.EncodeToString(b[:])
}

// deadLetterPublishTimeout bounds the republish of a parked message, which
// runs detached from the handler's context.
const deadLetterPublishTimeout = 10 * time.Second

// MetaReplay is the metadata key of a replayed message: a value unique to
// the replay (package eventbus/dlq sets the dead letter's ID and the
// replay's number). The message keeps its ID, so that consumers that
// handled it deduplicate it; adapters whose broker drops a message whose
// ID it saw within a window (natsbus: JetStream's duplicate window)
// deduplicate a replay on its ID and this value instead, so that a replay
// is not taken for a copy of the original.
const MetaReplay = "replay"

// DeadLetterPrefix is the type prefix of dead-lettered messages by default:
// "order.created" is parked as "deadletter.order.created", so a consumer of
// "deadletter.>" sees every parked message.
const DeadLetterPrefix = "deadletter."

// DeadLetterOption configures DeadLetter.
type DeadLetterOption func(*deadLetterConfig)

type deadLetterConfig struct {
	typeOf func(*Message) string
	logger *slog.Logger
}

// DeadLetterType sets how the dead-letter type is derived from the original
// message. Default: DeadLetterPrefix + msg.Type.
func DeadLetterType(f func(msg *Message) string) DeadLetterOption {
	return func(c *deadLetterConfig) {
		if f != nil {
			c.typeOf = f
		}
	}
}

// DeadLetterLogger sets the logger that records each parked message.
// Default slog.Default().
func DeadLetterLogger(l *slog.Logger) DeadLetterOption {
	return func(c *deadLetterConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// DeadLetter parks messages that failed permanently (retry.Permanent errors, and
// the last attempt under Retry): it republishes a copy through pub under the
// dead-letter type with the original type and ID, the reason, the attempts,
// the handler, the group and the time in Metadata, then lets the router
// acknowledge the original. If the republish fails, the original is
// redelivered a second later and parked then. Each failure gets its own
// copy, with an ID of its own (see DeadLetterID): the dead letters of one
// message from two groups, two handlers or a replay that failed again are
// all kept, never deduplicated against each other by the broker or the
// dead-letter store. The original's ID stays in MetaDeadLetterOriginalID.
// Parking is at least once: if the acknowledgement that follows it is
// lost, or comes after the broker redelivered the message (its ack wait
// ran out while a broker restart held the consumer up), the redelivery is
// parked again (under Retry, without running the handler past its last
// attempt), with a dead letter of its own.
//
// It is never inlined, so that every Middleware it returns is one function
// that Router recognizes when it checks the order of a chain.
//
//go:noinline
func DeadLetter(pub Publisher, opts ...DeadLetterOption) Middleware {
	cfg := deadLetterConfig{
		typeOf: func(m *Message) string { return DeadLetterPrefix + m.Type },
		logger: slog.Default(),
	}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		o(&cfg)
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			err := next(ctx, msg)
			if FateOf(ctx, err).Settle != SettleTerm {
				return err
			}
			dl := msg.Clone()
			dl.ID = DeadLetterID(msg.ID)
			dl.Type = cfg.typeOf(msg)
			dl.SetMetadata(MetaDeadLetterReason, err.Error())
			dl.SetMetadata(MetaDeadLetterOriginalType, msg.Type)
			dl.SetMetadata(MetaDeadLetterOriginalID, msg.ID)
			dl.SetMetadata(MetaDeadLetterTime, time.Now().UTC().Format(time.RFC3339Nano))
			attempts := attemptFrom(ctx)
			var ex *ExhaustedError
			if errors.As(err, &ex) {
				attempts = ex.Attempts
			}
			dl.SetMetadata(MetaDeadLetterAttempts, strconv.Itoa(attempts))
			if info, ok := DeliveryFromContext(ctx); ok {
				dl.SetMetadata(MetaDeadLetterHandler, info.Handler)
				dl.SetMetadata(MetaDeadLetterGroup, info.Group)
			}
			// The handler's deadline (Timeout) may have passed: parking
			// gets its own, or a message that timed out would never be
			// parked and would be redelivered for ever.
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterPublishTimeout)
			perr := pub.Publish(pctx, dl)
			cancel()
			if perr != nil {
				return &RetryError{
					Err:   fmt.Errorf("eventbus: dead-letter %s %s: %w (handler failed: %v)", msg.Type, msg.ID, perr, err),
					Delay: time.Second,
				}
			}
			if info, ok := DeliveryFromContext(ctx); ok {
				info.DeadLetterReason = err.Error()
			}
			cfg.logger.Warn("eventbus: message dead-lettered",
				"type", msg.Type, "id", msg.ID, "deadletter_type", dl.Type, "attempts", attempts, "reason", err.Error())
			return nil
		}
	}
}
