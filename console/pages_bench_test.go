package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// pageRows is how many sagas and dead letters BenchmarkPages stores.
const pageRows = 100_000

// BenchmarkPages serves whole console pages, HTML and JSON, over 100,000
// sagas and 100,000 dead letters in PostgreSQL (a fresh schema, loaded
// once), and reports each page's p99 next to its mean. It needs
// MICROKIT_POSTGRES_URL.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	db, _ := sqltest.Open(b, sqldialect.Postgres, "console_pages")
	if err := sqlstore.Migrate(ctx, db, sqldialect.Postgres); err != nil {
		b.Fatal(err)
	}
	sagas, err := sqlstore.New(db, sqldialect.Postgres)
	if err != nil {
		b.Fatal(err)
	}
	dead, err := dlq.New(db, sqldialect.Postgres)
	if err != nil {
		b.Fatal(err)
	}
	if err := dead.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	loadSagas(b, sagas)
	loadDeadLetters(b, dead)
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	c, err := console.New(func(*http.Request) (console.Operator, error) { return console.Operator{Name: "bench"}, nil })
	if err != nil {
		b.Fatal(err)
	}
	c.AddSagas(sagas, nil)
	c.AddDeadLetters(dead, nil)
	// A page deep in each list: its cursor comes from the list's own
	// next link, followed 20 times.
	deep := func(path string) string {
		base := path
		for range 20 {
			w := httptest.NewRecorder()
			c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			var next struct{ Next string }
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &next) != nil || next.Next == "" {
				b.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
			}
			path = base + "?" + next.Next
		}
		return path
	}
	for _, p := range []struct{ name, path string }{
		{"sagas", "/console/sagas"},
		{"sagas-json", "/console/api/sagas"},
		{"sagas-failed", "/console/sagas?status=compensation_failed"},
		{"sagas-name-status", "/console/sagas?name=refund&status=compensation_failed"},
		{"sagas-id-prefix", "/console/sagas?q=s-0000"},
		{"sagas-stuck", "/console/sagas?status=running&older=1h"},
		{"sagas-deep", deep("/console/api/sagas")},
		{"saga", "/console/sagas/s-0050000"},
		{"deadletters", "/console/deadletters"},
		{"deadletters-json", "/console/api/deadletters"},
		{"deadletters-group", "/console/deadletters?group=billing"},
		{"deadletters-deep", deep("/console/api/deadletters")},
		{"overview", "/console/"},
	} {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				r := httptest.NewRequest(http.MethodGet, p.path, nil)
				w := httptest.NewRecorder()
				c.ServeHTTP(w, r)
				took = append(took, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, w.Code, w.Body)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// loadSagas stores pageRows sagas of two names, one in ten of them
// compensation_failed, one in ten running, in transactions of 1,000.
func loadSagas(b *testing.B, store *sqlstore.Store) {
	b.Helper()
	ctx := context.Background()
	start := time.Now().Add(-2 * time.Hour)
	steps := []saga.StepRecord{{Name: "charge", Status: saga.StepCompensationFailed, Attempts: 1, CompensateAttempts: 3,
		Error: "refunds are down", StartedAt: start, EndedAt: start, CompensateStartedAt: start, CompensateEndedAt: start},
		{Name: "ship", Status: saga.StepFailed, Failed: true, Attempts: 1, Error: "no courier", StartedAt: start, EndedAt: start}}
	statuses := []saga.Status{saga.StatusCompleted, saga.StatusCompleted, saga.StatusCompleted, saga.StatusCompleted,
		saga.StatusCompleted, saga.StatusCompleted, saga.StatusCompensated, saga.StatusCompensated,
		saga.StatusCompensationFailed, saga.StatusRunning}
	loadInParallel(b, pageRows/1000, func(batch int) error {
		return store.InTx(ctx, func(ctx context.Context) error {
			for i := batch * 1000; i < (batch+1)*1000; i++ {
				name := "checkout"
				if i%2 == 1 {
					name = "refund"
				}
				at := start.Add(time.Duration(i) * time.Millisecond)
				r := &saga.Record{ID: fmt.Sprintf("s-%07d", i), Name: name, Status: statuses[i%len(statuses)],
					State: []byte(`{"order":"o-1","items":["p-1","p-2"]}`), Steps: steps, Error: "no courier",
					CreatedAt: at, UpdatedAt: at}
				if err := store.Create(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// loadDeadLetters parks pageRows dead letters of three groups.
func loadDeadLetters(b *testing.B, store *dlq.Store) {
	b.Helper()
	ctx := context.Background()
	groups := []string{"billing", "mailer", "search"}
	loadInParallel(b, pageRows/1000, func(batch int) error {
		for i := batch * 1000; i < (batch+1)*1000; i++ {
			msg, err := eventbus.NewMessage("order.created", map[string]int{"n": i})
			if err != nil {
				return err
			}
			dl := msg.Clone()
			dl.ID, dl.Type = eventbus.DeadLetterID(msg.ID), eventbus.DeadLetterPrefix+msg.Type
			dl.SetMetadata(eventbus.MetaDeadLetterReason, "unknown currency XTS")
			dl.SetMetadata(eventbus.MetaDeadLetterOriginalType, msg.Type)
			dl.SetMetadata(eventbus.MetaDeadLetterOriginalID, msg.ID)
			dl.SetMetadata(eventbus.MetaDeadLetterGroup, groups[i%len(groups)])
			dl.SetMetadata(eventbus.MetaDeadLetterAttempts, "20")
			if err := store.Park(ctx, dl); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadInParallel runs load(0) to load(batches-1), 8 at a time.
func loadInParallel(b *testing.B, batches int, load func(batch int) error) {
	b.Helper()
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, batches)
	for range 8 {
		wg.Go(func() {
			for batch := range work {
				errs <- load(batch)
			}
		})
	}
	for batch := range batches {
		work <- batch
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}
