package saga

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// begin persists the record and marks an action as executing, so that the
// lease keeper renews the lease until end.
func (r *run[S]) begin(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.persistLocked(ctx); err != nil {
		return err
	}
	r.executing = true
	return nil
}

func (r *run[S]) end() {
	r.mu.Lock()
	r.executing = false
	r.mu.Unlock()
}

// persist writes the record: every transition reaches the store before the
// action that follows it.
func (r *run[S]) persist(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.persistLocked(ctx)
}

func (r *run[S]) persistLocked(ctx context.Context) error {
	created, err := r.write(ctx)
	if created {
		r.emit(ctx, Event{Kind: EventStarted})
	}
	if err == nil {
		r.claimed()
	}
	return err
}

// write writes the record, and reports whether that created it.
func (r *run[S]) write(ctx context.Context) (created bool, err error) {
	if r.dirty {
		r.buf.Reset()
		if err := r.enc.Encode(&r.state); err != nil {
			return false, &abortError{err: fmt.Errorf("saga: %s %s: encode state: %w", r.def.name, r.rec.ID, err)}
		}
		r.rec.State = bytes.TrimSuffix(r.buf.Bytes(), []byte{'\n'})
		r.dirty = false
	}
	now := time.Now()
	r.rec.UpdatedAt, r.rec.LeaseUntil = now, now.Add(r.o.lease)
	if r.rec.Status == StatusWaiting {
		r.rec.LeaseUntil = time.Time{} // parked: nobody holds it
	}
	if r.created {
		var err error
		if key := r.pendingTake; key != "" {
			err = r.updateAndTake(ctx, key)
		} else {
			err = r.update(ctx)
		}
		if err != nil {
			if errors.Is(err, ErrConflict) {
				err = fmt.Errorf("%w: %w", ErrLostOwnership, err)
			}
			return false, &abortError{err: fmt.Errorf("saga: %s %s: persist: %w", r.def.name, r.rec.ID, err)}
		}
		r.pendingTake = ""
		return false, nil
	}
	r.rec.CreatedAt = now
	create := r.o.store.Create
	if r.parks() {
		create = r.parkWrite
	}
	if err := create(ctx, &r.rec); err != nil {
		return false, &abortError{err: fmt.Errorf("saga: %s %s: create: %w", r.def.name, r.rec.ID, err)}
	}
	r.created = true
	return true, nil
}

// update writes the record with the store's Update, or with its Park when
// the write parks the saga on a key (see parks).
func (r *run[S]) update(ctx context.Context) error {
	if r.parks() {
		return r.parkWrite(ctx, &r.rec)
	}
	return r.o.store.Update(ctx, &r.rec)
}

// parks reports whether the record's next write parks the saga waiting on
// a key in a ParkStore: that write must be the store's Park, which
// records the saga as the key's waiter, since Signal then finds the saga
// by that record alone.
func (r *run[S]) parks() bool {
	return r.o.parkStore != nil && r.rec.Status == StatusWaiting && r.rec.WaitKey != ""
}

// parkWrite writes rec with the store's Park and keeps what it returned,
// the signal the key had already, for parked.
func (r *run[S]) parkWrite(ctx context.Context, rec *Record) error {
	sig, err := r.o.parkStore.Park(ctx, rec)
	if err != nil {
		return err
	}
	r.looked, r.early = true, sig
	return nil
}

// renew extends the lease while an action executes; called by the
// orchestrator's lease keeper.
func (r *run[S]) renew(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.executing || r.lost {
		return
	}
	r.rec.LeaseUntil = time.Now().Add(r.o.lease)
	if err := r.o.store.Update(ctx, &r.rec); err != nil {
		r.lost = errors.Is(err, ErrConflict)
		r.o.log.Warn("saga: lease renewal failed", "saga", r.def.name, "id", r.rec.ID, "err", err)
	}
}
