package saga_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatest"
)

func TestMemoryStoreConformance(t *testing.T) {
	sagatest.Run(t, func(*testing.T) saga.Store { return saga.NewMemoryStore() })
}

func TestMemoryStoreDropFinished(t *testing.T) {
	store := &saga.MemoryStore{DropFinished: true}
	o := newOrchestrator(t, store)
	j, rf := &journal{}, &refund{}
	if _, err := define(t, o, step(j, "a", 0, nil)).Run(context.Background(), o, order{}, saga.WithID("done")); err != nil {
		t.Fatal(err)
	}
	bad, _ := saga.New("bad", rf.step(j), step(j, "b", 1, errBoom))
	register(t, o, bad)
	if _, err := bad.Run(context.Background(), o, order{}, saga.WithID("stuck")); err == nil {
		t.Fatal("want an error")
	}
	all, err := store.List(context.Background(), saga.Filter{})
	if err != nil || len(all) != 1 || all[0].ID != "stuck" {
		t.Fatalf("records = %v, %v; want only the saga that needs a human", all, err)
	}
}
