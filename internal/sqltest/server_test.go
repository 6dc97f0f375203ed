package sqltest_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestStartPostgres: a throwaway server answers, refuses connections while
// stopped, and answers again on the same DSN with its data kept.
func TestStartPostgres(t *testing.T) {
	srv := sqltest.StartPostgres(t)
	db, err := sqldb.Open(sqldialect.Postgres, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (id INT)"); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded with the server stopped")
	}
	srv.Start(t)
	if _, err := db.ExecContext(ctx, "INSERT INTO kept (id) VALUES (1)"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
