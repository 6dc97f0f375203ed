package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// recorder is a publisher that keeps what it publishes.
type recorder struct {
	mu   sync.Mutex
	sent []*eventbus.Message
}

func (p *recorder) Publish(_ context.Context, msgs ...*eventbus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, msgs...)
	return nil
}

func (p *recorder) Close(context.Context) error { return nil }

func (p *recorder) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.sent {
		out = append(out, m.ID)
	}
	return out
}

// park parks a dead letter of a message of type typ that failed in group,
// and returns the message and the dead letter's ID.
func park(t *testing.T, store *dlq.Store, group, typ string, n int) (*eventbus.Message, string) {
	t.Helper()
	msg, err := eventbus.NewMessage(typ, map[string]int{"n": n})
	if err != nil {
		t.Fatal(err)
	}
	dl := msg.Clone()
	dl.ID = eventbus.DeadLetterID(msg.ID)
	dl.Type = eventbus.DeadLetterPrefix + typ
	for k, v := range map[string]string{
		eventbus.MetaDeadLetterReason: "unknown currency XTS", eventbus.MetaDeadLetterOriginalType: typ,
		eventbus.MetaDeadLetterOriginalID: msg.ID, eventbus.MetaDeadLetterAttempts: "5",
		eventbus.MetaDeadLetterGroup: group, eventbus.MetaDeadLetterHandler: typ,
		eventbus.MetaDeadLetterTime: time.Now().UTC().Format(time.RFC3339Nano),
	} {
		dl.SetMetadata(k, v)
	}
	if err := store.Park(t.Context(), dl); err != nil {
		t.Fatal(err)
	}
	return msg, dl.ID
}

func TestDeadLettersView(t *testing.T) {
	ctx := t.Context()
	db, _ := sqltest.Open(t, sqldialect.SQLite, "console_dlq")
	store, err := dlq.New(db, sqldialect.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var billing []*eventbus.Message
	var parked []string
	for i := range 60 {
		m, id := park(t, store, "billing", "order.created", i)
		billing, parked = append(billing, m), append(parked, id)
	}
	for i := range 5 {
		park(t, store, "mailer", "user.signed-up", i)
	}
	pub := &recorder{}
	c := newConsole(t)
	c.AddDeadLetters(store, pub)
	cl := client{t, c, "ada"}

	var v console.DeadLettersView
	cl.json("/console/api/deadletters?group=billing", &v)
	if v.Waiting != 65 || len(v.Entries) != 50 || v.Next == "" || len(v.Groups) != 2 || len(v.Counts) != 1 {
		t.Fatalf("first page: waiting %d, %d entries, next %q, groups %+v", v.Waiting, len(v.Entries), v.Next, v.Groups)
	}
	seen := map[string]bool{}
	for _, e := range v.Entries {
		seen[e.ID] = true
	}
	var rest console.DeadLettersView
	cl.json("/console/api/deadletters?"+v.Next, &rest)
	for _, e := range rest.Entries {
		if seen[e.ID] {
			t.Fatalf("%s on both pages", e.ID)
		}
		seen[e.ID] = true
	}
	if len(seen) != 60 || rest.Next != "" {
		t.Fatalf("%d billing entries over two pages (next %q), want 60", len(seen), rest.Next)
	}
	for _, bad := range []string{"after=nonsense", "limit=100000", "type=order.**.x"} {
		if w := cl.do(http.MethodGet, "/console/api/deadletters?"+bad, nil); w.Code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", bad, w.Code)
		}
	}

	// One entry: its page, then a replay to the original type.
	first := parked[0]
	var one console.DeadLetterView
	cl.json("/console/api/deadletters/"+url.PathEscape(first), &one)
	if one.OriginalID != billing[0].ID || one.Reason != "unknown currency XTS" || !strings.Contains(one.Data, `"n": 0`) || len(one.History) != 1 || !one.CanAct {
		t.Fatalf("entry: %+v", one)
	}
	if res := cl.act("deadletter-replay", url.Values{"id": {first}}); res.Done != 1 {
		t.Fatalf("replay: %+v", res)
	}
	if ids := pub.ids(); len(ids) != 1 || ids[0] != billing[0].ID {
		t.Fatalf("replayed %v, want the original %s", ids, billing[0].ID)
	}
	cl.json("/console/api/deadletters/"+url.PathEscape(first), &one)
	if one.Replays != 1 || one.History[0].Replays != 1 {
		t.Fatalf("after the replay: %+v", one)
	}
	// Discard one, then replay the rest of the group, then discard a type.
	if res := cl.act("deadletter-discard", url.Values{"id": {parked[1]}}); res.Done != 1 {
		t.Fatalf("discard: %+v", res)
	}
	if w := cl.do(http.MethodPost, "/console/api/actions/deadletter-replay-all", url.Values{"confirm": {"yes"}}); w.Code != http.StatusBadRequest {
		t.Fatalf("a batch without a group or type: %d, want 400", w.Code)
	}
	if res := cl.act("deadletter-replay-all", url.Values{"group": {"billing"}}); res.Done != 58 {
		t.Fatalf("replay all of billing: %+v, want 58", res)
	}
	if res := cl.act("deadletter-discard-all", url.Values{"type": {"user.*"}}); res.Done != 5 {
		t.Fatalf("discard all user.*: %+v, want 5", res)
	}
	var ov console.OverviewView
	cl.json("/console/api/", &ov)
	if len(ov.Items) != 1 || ov.Items[0].Area != "deadletters" || ov.Items[0].Attention != 0 {
		t.Fatalf("overview: %+v", ov)
	}
	page := cl.do(http.MethodGet, "/console/deadletters?replayed=1", nil).Body.String()
	if !strings.Contains(page, "order.created") || !strings.Contains(page, `<svg class="spark"`) {
		t.Fatalf("dead letters page: %s", page)
	}

	// Without a publisher the entries are shown, not replayed.
	ro := newConsole(t)
	ro.AddDeadLetters(store, nil)
	if w := (client{t, ro, "ada"}).do(http.MethodPost, "/console/api/actions/deadletter-replay", url.Values{"id": {first}, "confirm": {"yes"}}); w.Code != http.StatusForbidden {
		t.Fatalf("no publisher: %d, want 403", w.Code)
	}
}
