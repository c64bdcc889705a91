package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Run sends due messages until ctx ends. A send under way when ctx ends is
// finished and recorded first. Any number of workers, in this process or
// others sharing the store, may run at once.
func (q *Queue) Run(ctx context.Context) {
	errWait := q.opts.Poll
	for {
		claimed, next, err := q.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := q.opts.Poll
		switch {
		case err != nil:
			q.log.Warn("mail queue: pass failed; retrying", "err", err, "in", errWait)
			wait, errWait = errWait, min(2*errWait, maxQueueErrorWait)
		case claimed > 0:
			errWait = q.opts.Poll
			continue // more may be due
		default:
			errWait = q.opts.Poll
			if !next.IsZero() {
				wait = min(wait, time.Until(next))
			}
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Drain sends every message that is due and not leased by another worker,
// then returns: for tests, and to flush a queue before shutdown.
func (q *Queue) Drain(ctx context.Context) error {
	for {
		claimed, _, err := q.pass(ctx)
		if err != nil || claimed == 0 {
			return err
		}
	}
}

// pass works through the due items once, in due order. It reports how many
// items it dealt with (sent, failed or dropped as stale) and, when it stopped
// at one not yet due, when that one is due.
func (q *Queue) pass(ctx context.Context) (claimed int, next time.Time, err error) {
	reserved := false // holds a rate slot not yet used by a send
	after := ""
	for {
		entries, err := q.b.List(ctx, bucketQueueItems, after, scanPage, false)
		if err != nil {
			return claimed, time.Time{}, fmt.Errorf("notify: queue: %w", err)
		}
		for _, e := range entries {
			due, ok := parseDue(e.ID)
			if !ok {
				q.log.Error("mail queue: dropping an item with an unreadable ID", "id", e.ID)
				if err := q.b.Delete(ctx, store.Key{Bucket: bucketQueueItems, ID: e.ID}); err != nil {
					return claimed, time.Time{}, fmt.Errorf("notify: queue: %w", err)
				}
				continue
			}
			if due.After(q.opts.Now()) {
				return claimed, due, nil
			}
			// Take the slot before the lease, so waiting for it holds no
			// lease; a slot unused (another worker took the item) serves the
			// next item.
			if !reserved {
				if err := q.waitForSlot(ctx); err != nil {
					return claimed, time.Time{}, err
				}
				reserved = true
			}
			outcome, err := q.process(ctx, e)
			if err != nil {
				return claimed, time.Time{}, err
			}
			switch outcome {
			case itemAttempted:
				reserved = false
				claimed++
			case itemDropped:
				claimed++
			}
		}
		if len(entries) < scanPage {
			return claimed, time.Time{}, nil
		}
		after = entries[len(entries)-1].ID
	}
}

// waitForSlot reserves the next send slot in the store, shared by every
// worker, and waits for it: a GCRA token bucket with a burst of one, so the
// workers together never exceed Rate.
func (q *Queue) waitForSlot(ctx context.Context) error {
	if q.interval == 0 {
		return nil
	}
	var slot time.Time
	_, err := q.b.Update(ctx, rateKey, func(old []byte) ([]byte, time.Duration, error) {
		now := time.Now()
		slot = now
		if n, err := strconv.ParseInt(string(old), 10, 64); err == nil && n > now.UnixNano() {
			slot = time.Unix(0, n)
		}
		next := strconv.FormatInt(slot.Add(q.interval).UnixNano(), 10)
		// Kept past the slot it names, then gone while the queue is idle.
		return []byte(next), q.interval + time.Minute, nil
	})
	if err != nil {
		return fmt.Errorf("notify: queue: rate: %w", err)
	}
	return sleepUntil(ctx, slot)
}

type itemOutcome int

const (
	itemSkipped   itemOutcome = iota // leased by another worker
	itemDropped                      // stale or unreadable: removed unsent
	itemAttempted                    // sent, or failed and recorded
)

// process leases one due item and sends it if its marker still names it.
func (q *Queue) process(ctx context.Context, e store.Entry) (itemOutcome, error) {
	itemKey := store.Key{Bucket: bucketQueueItems, ID: e.ID}
	var rec itemRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil || rec.Job == "" || rec.Key == "" {
		q.log.Error("mail queue: dropping an unreadable item", "id", e.ID, "err", err)
		return itemDropped, q.deleteItem(ctx, itemKey)
	}
	// A sent or abandoned message stays so, so its item is dropped without
	// a lease: a worker trailing another one spares a write per item. Any
	// other marker is only trusted under the lease (see recordFailure).
	current, err := q.marker(ctx, rec)
	if err != nil {
		return itemSkipped, err
	}
	if current == markerSent || current == markerGaveUp {
		return itemDropped, q.deleteItem(ctx, itemKey)
	}

	lease := store.Key{Bucket: bucketQueueLeases, ID: e.ID}
	ok, err := q.b.PutIfAbsent(ctx, lease, []byte(q.worker), q.opts.Lease)
	if err != nil {
		return itemSkipped, fmt.Errorf("notify: queue: lease: %w", err)
	}
	if !ok {
		return itemSkipped, nil
	}
	// Once leased, the item is finished even if ctx ends: a send the
	// provider may have accepted must be recorded.
	bg := context.WithoutCancel(ctx)
	defer q.b.Delete(bg, lease) // best effort: it expires anyway

	// Another worker may have finished the item before the lease.
	if current, err = q.marker(ctx, rec); err != nil {
		return itemSkipped, err
	}
	if current != e.ID {
		// Already sent or moved on by a worker that died before deleting
		// this copy, or so old that its marker expired.
		return itemDropped, q.deleteItem(bg, itemKey)
	}
	if err := ctx.Err(); err != nil {
		return itemSkipped, err
	}

	sendCtx, cancel := context.WithTimeout(bg, q.opts.Lease/2)
	sendErr := q.sender.SendEmail(sendCtx, rec.email())
	cancel()
	if sendErr == nil {
		return itemAttempted, q.recordSent(bg, itemKey, rec)
	}
	return itemAttempted, q.recordFailure(bg, itemKey, rec, sendErr)
}

// marker returns where rec's message stands ("" once its marker expired:
// the job is over).
func (q *Queue) marker(ctx context.Context, rec itemRecord) (string, error) {
	v, err := q.b.Get(ctx, store.Key{Bucket: bucketQueueKeys, ID: itemName(rec.Job, rec.Key)})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("notify: queue: %w", err)
	}
	return string(v), nil
}

func (q *Queue) recordSent(ctx context.Context, itemKey store.Key, rec itemRecord) error {
	name := itemName(rec.Job, rec.Key)
	if err := q.b.Put(ctx, store.Key{Bucket: bucketQueueKeys, ID: name}, []byte(markerSent), queueRetention); err != nil {
		return fmt.Errorf("notify: queue: recording a sent message: %w", err)
	}
	if _, err := q.updateJob(ctx, rec.Job, func(j *jobRecord) {
		j.Sent++
		if rec.Attempts > 0 {
			j.Retrying--
		}
	}); err != nil {
		return err
	}
	return q.deleteItem(ctx, itemKey)
}

func (q *Queue) recordFailure(ctx context.Context, itemKey store.Key, rec itemRecord, sendErr error) error {
	name := itemName(rec.Job, rec.Key)
	markerKey := store.Key{Bucket: bucketQueueKeys, ID: name}
	rec.Attempts++
	to := MaskEmail(rec.To)
	if rec.Attempts >= q.opts.MaxAttempts {
		q.log.Warn("mail queue: giving up on a message", "job", rec.Job, "to", to, "attempts", rec.Attempts, "err", sendErr)
		if err := q.b.Put(ctx, markerKey, []byte(markerGaveUp), queueRetention); err != nil {
			return fmt.Errorf("notify: queue: recording a failed message: %w", err)
		}
		if _, err := q.updateJob(ctx, rec.Job, func(j *jobRecord) {
			j.GaveUp++
			if rec.Attempts > 1 {
				j.Retrying--
			}
		}); err != nil {
			return err
		}
		return q.deleteItem(ctx, itemKey)
	}

	delay := q.backoff(rec.Attempts)
	q.log.Warn("mail queue: send failed; will retry", "job", rec.Job, "to", to, "attempt", rec.Attempts, "in", delay, "err", sendErr)
	value, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("notify: queue: %w", err)
	}
	retryID := itemID(q.opts.Now().Add(delay), name)
	// The new item exists before the marker names it; leasing it meanwhile
	// keeps other workers from taking it for a stale copy and dropping it.
	retryLease := store.Key{Bucket: bucketQueueLeases, ID: retryID}
	if _, err := q.b.PutIfAbsent(ctx, retryLease, []byte(q.worker), q.opts.Lease); err != nil {
		return fmt.Errorf("notify: queue: rescheduling: %w", err)
	}
	defer q.b.Delete(ctx, retryLease)
	if err := q.b.Put(ctx, store.Key{Bucket: bucketQueueItems, ID: retryID}, value, queueRetention); err != nil {
		return fmt.Errorf("notify: queue: rescheduling: %w", err)
	}
	if err := q.b.Put(ctx, markerKey, []byte(retryID), queueRetention); err != nil {
		return fmt.Errorf("notify: queue: rescheduling: %w", err)
	}
	if rec.Attempts == 1 {
		if _, err := q.updateJob(ctx, rec.Job, func(j *jobRecord) { j.Retrying++ }); err != nil {
			return err
		}
	}
	return q.deleteItem(ctx, itemKey)
}

// backoff is the wait after the given number of failed attempts.
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.opts.Backoff
	for i := 1; i < attempts && d < maxQueueBackoff; i++ {
		d *= 2
	}
	return min(d, maxQueueBackoff)
}

func (q *Queue) deleteItem(ctx context.Context, k store.Key) error {
	if err := q.b.Delete(ctx, k); err != nil {
		return fmt.Errorf("notify: queue: %w", err)
	}
	return nil
}
