package redisbus

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Trim removes the oldest entries of the stream beyond the bus's max
// length (WithMaxLen), but never an entry that a consumer group has not
// acknowledged. It returns how many entries it removed. The bus calls it
// every trim interval (WithTrimInterval) while it publishes; a service
// may call it itself.
//
// The first entry a group still needs is the lowest ID of its pending
// entries list (XPENDING), or, when nothing is pending, the entry after
// its last delivered ID (XINFO GROUPS): everything before that was
// delivered and acknowledged. The lowest of those over all groups is the
// safe MINID. Trim deletes from the stream's start up to the excess over
// the max length, stopping before the safe MINID: a group that lags keeps
// the stream longer than the max length until it catches up. With no group
// on the stream the max length alone decides.
func (b *Bus) Trim(ctx context.Context) (int64, error) {
	safe, err := b.SafeMinID(ctx)
	if err != nil {
		return 0, fmt.Errorf("redisbus: trim: %w", err)
	}
	n, err := trimScript.Run(ctx, b.rdb, []string{b.cfg.stream}, b.cfg.maxLen, safe).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisbus: trim: %w", err)
	}
	return n, nil
}

// SafeMinID returns the lowest entry ID that some consumer group of the
// stream still needs (not acknowledged, or not delivered yet), the bound
// Trim never trims past; "" when the stream has no group.
func (b *Bus) SafeMinID(ctx context.Context) (string, error) {
	groups, err := b.rdb.XInfoGroups(ctx, b.cfg.stream).Result()
	if err != nil {
		if noGroup(err) || strings.Contains(err.Error(), "no such key") {
			return "", nil // no stream yet
		}
		return "", err
	}
	var safe streamID
	found := false
	for _, g := range groups {
		var need streamID
		if g.Pending > 0 {
			p, err := b.rdb.XPending(ctx, b.cfg.stream, g.Name).Result()
			if err != nil {
				return "", err
			}
			if need, err = parseID(p.Lower); err != nil {
				return "", err
			}
		} else {
			last, err := parseID(g.LastDeliveredID)
			if err != nil {
				return "", err
			}
			need = last.next()
		}
		if !found || need.less(safe) {
			safe, found = need, true
		}
	}
	if !found {
		return "", nil
	}
	return safe.String(), nil
}

// streamID is a stream entry ID, milliseconds and sequence.
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, error) {
	msPart, seqPart, _ := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("entry ID %q: %w", s, err)
	}
	var seq uint64
	if seqPart != "" {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return streamID{}, fmt.Errorf("entry ID %q: %w", s, err)
		}
	}
	return streamID{ms, seq}, nil
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

// next returns the smallest ID after id.
func (id streamID) next() streamID {
	if id.seq == ^uint64(0) {
		return streamID{id.ms + 1, 0}
	}
	return streamID{id.ms, id.seq + 1}
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

// trimScript removes from the start of stream KEYS[1] as many entries as
// exceed the max length ARGV[1], all below the safe MINID ARGV[2] ("" for
// none), and returns how many. It finds the last one to remove with XRANGE
// in chunks, so that it reads no more entries than it deletes, then
// removes them with XTRIM MINID (which keeps its bound) and XDEL.
var trimScript = redis.NewScript(`
local stream, maxLen, safe = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local excess = redis.call('XLEN', stream) - maxLen
if excess <= 0 then return 0 end
local stop = '+'
if safe ~= '' then stop = '(' .. safe end
local start, last, n = '-', nil, 0
while excess > 0 do
  local want = math.min(excess, 1000)
  local es = redis.call('XRANGE', stream, start, stop, 'COUNT', want)
  if #es == 0 then break end
  last = es[#es][1]
  n = n + #es
  excess = excess - #es
  start = '(' .. last
  if #es < want then break end
end
if not last then return 0 end
return redis.call('XTRIM', stream, 'MINID', last) + redis.call('XDEL', stream, last)
`)
