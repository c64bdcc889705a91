package notify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// A Queue sends bulk email durably through the store: every message is
// stored before it is sent, sent at a bounded rate, retried with backoff and
// sent at most once per (job, key), across restarts and across gateways
// sharing the store, each running a worker.
//
// Layout, all under "mailq/":
//
//	items   DUE/NAME -> the message; DUE (zero-padded Unix nanoseconds) makes
//	        a listing from the start the next messages due
//	keys    NAME -> where the message of NAME stands: the ID of its current
//	        item, or "sent", or "gave-up"; the dedupe marker of (job, key)
//	leases  DUE/NAME -> the worker sending that item, for Lease
//	jobs    JOB -> counters for Progress
//	rate    "next" -> the earliest time the next send may start, shared by
//	        every worker
//
// NAME is len(JOB):JOB/KEY, which no other (job, key) pair spells.
//
// The keys marker is the commit point of every step: an item is sent only
// while the marker names it, and a step writes the marker before deleting
// what it replaces. A worker that dies anywhere leaves either the old state
// or the new one (an item the marker no longer names is dropped unsent), so
// nothing is lost or sent twice, except for one case no queue can rule out:
// dying after the provider accepted a message but before "sent" is written
// (a few milliseconds) sends it again once the lease expires. An Enqueue
// cut short between a batch's markers and its items is completed by calling
// it again. Counters are written after the marker, so a death in between
// can leave Progress one off.
type Queue struct {
	b        store.Backend
	sender   EmailSender
	opts     QueueOptions
	log      *slog.Logger
	worker   string        // names this Queue's leases
	interval time.Duration // between sends; 0: unlimited
	wake     chan struct{} // Enqueue tells Run in this process at once
}

// QueuedEmail is one message of a job. Key identifies its recipient within
// the job (a user ID): a job never sends two messages with the same Key.
type QueuedEmail struct {
	Key   string
	Email Email
}

// Progress is how far a job has got.
type Progress struct {
	Job   string `json:"job"`
	Total int    `json:"total"` // distinct keys enqueued
	Sent  int    `json:"sent"`
	// Failed counts messages that failed at least once and are not sent:
	// Retrying plus GaveUp.
	Failed   int `json:"failed"`
	Retrying int `json:"retrying"` // waiting for their next attempt
	GaveUp   int `json:"gave_up"`  // failed MaxAttempts times; will not be sent
	// Pending counts messages not tried yet (or being sent right now).
	Pending int       `json:"pending"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Done reports whether nothing of the job is left to send.
func (p Progress) Done() bool { return p.Pending == 0 && p.Retrying == 0 }

// QueueOptions tune a Queue; the zero value is the production default.
type QueueOptions struct {
	// Rate is the most messages per second all workers on the store send
	// together. Default 14 (the usual SES account rate); +Inf: no limit.
	Rate float64
	// MaxAttempts is how many times a message is tried before giving up.
	// Default 8.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles with each
	// further failure, up to an hour. Default 30s.
	Backoff time.Duration
	// Lease is how long a worker owns a message it is sending; a worker
	// that dies holding one delays that message by at most this. Sends time
	// out after half of it, so a lease never ends while its send may still
	// succeed. Default 2m.
	Lease time.Duration
	// Poll is how often an idle worker looks for due messages (it also
	// wakes at once for messages enqueued in its own process, and when a
	// retry falls due). Default 2s.
	Poll time.Duration
	// Logger receives retries, give-ups and store trouble; addresses are
	// masked. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultQueueRate        = 14
	defaultQueueMaxAttempts = 8
	defaultQueueBackoff     = 30 * time.Second
	defaultQueueLease       = 2 * time.Minute
	defaultQueuePoll        = 2 * time.Second
	maxQueueBackoff         = time.Hour
	// maxQueueErrorWait caps the pause after a worker pass failed on the store.
	maxQueueErrorWait = time.Minute
	// queueRetention is how long a job's messages, markers and counters are
	// kept after their last change: a message that waited this long is
	// stale, and re-enqueueing a job within it adds nothing.
	queueRetention = 30 * 24 * time.Hour
	// enqueueBatch is how many messages one batched write stores.
	enqueueBatch = 1000
	// scanPage is how many due items a worker lists at a time.
	scanPage = 100

	bucketQueueItems  = "mailq/items"
	bucketQueueKeys   = "mailq/keys"
	bucketQueueLeases = "mailq/leases"
	bucketQueueJobs   = "mailq/jobs"
	bucketQueueRate   = "mailq/rate"

	markerSent   = "sent"
	markerGaveUp = "gave-up"
	// dueDigits is the width of an item ID's due time: every int64 fits.
	dueDigits = 20
)

var rateKey = store.Key{Bucket: bucketQueueRate, ID: "next"}

// NewQueue returns a queue on b that sends through sender. Call Run (in
// every process that should send) to start sending.
func NewQueue(b store.Backend, sender EmailSender, opts QueueOptions) *Queue {
	if opts.Rate <= 0 || math.IsNaN(opts.Rate) {
		opts.Rate = defaultQueueRate
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaultQueueMaxAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = defaultQueueBackoff
	}
	if opts.Lease <= 0 {
		opts.Lease = defaultQueueLease
	}
	if opts.Poll <= 0 {
		opts.Poll = defaultQueuePoll
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q := &Queue{
		b:      b,
		sender: sender,
		opts:   opts,
		log:    opts.Logger,
		worker: rand.Text(),
		wake:   make(chan struct{}, 1),
	}
	if !math.IsInf(opts.Rate, 1) {
		q.interval = time.Duration(float64(time.Second) / opts.Rate)
	}
	return q
}

// Enqueue stores items under job, skipping any whose Key the job already
// has (queued, sent or given up), and reports how many it added. It is safe
// to call again with the same items after an error: a message whose
// enqueue was interrupted is completed, none is duplicated.
func (q *Queue) Enqueue(ctx context.Context, job string, items []QueuedEmail) (int, error) {
	if job == "" || strings.IndexByte(job, 0) >= 0 {
		return 0, fmt.Errorf("notify: queue: invalid job name %q", job)
	}
	for _, it := range items {
		if it.Key == "" || strings.IndexByte(it.Key, 0) >= 0 {
			return 0, fmt.Errorf("notify: queue: job %s: invalid key %q", job, it.Key)
		}
		if it.Email.To == "" {
			return 0, fmt.Errorf("notify: queue: job %s: key %q has no recipient", job, it.Key)
		}
	}
	if len(items) == 0 {
		return 0, nil
	}
	created, err := q.jobCreated(ctx, job)
	if err != nil {
		return 0, err
	}
	added := 0
	for start := 0; start < len(items); start += enqueueBatch {
		n, err := q.enqueueBatch(ctx, job, created, items[start:min(start+enqueueBatch, len(items))])
		added += n
		if err != nil {
			return added, err
		}
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return added, nil
}

// jobCreated returns when job was first enqueued, recording it now if it
// was not: a message's first due time is its job's creation, so that
// every enqueue of the same message names the same item.
func (q *Queue) jobCreated(ctx context.Context, job string) (time.Time, error) {
	raw, err := q.b.Get(ctx, store.Key{Bucket: bucketQueueJobs, ID: job})
	if err == nil {
		var rec jobRecord
		if err := json.Unmarshal(raw, &rec); err == nil && !rec.Created.IsZero() {
			return rec.Created, nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return time.Time{}, fmt.Errorf("notify: queue: %w", err)
	}
	rec, err := q.updateJob(ctx, job, func(*jobRecord) {})
	return rec.Created, err
}

// enqueueBatch writes the markers of one batch, then the items they name,
// then the count. Markers come first so that no item exists without its
// marker. A marker that already existed but still names its first item
// means that item may have been lost between the two writes (by an error
// or a crash), so that item is written again if absent.
func (q *Queue) enqueueBatch(ctx context.Context, job string, created time.Time, items []QueuedEmail) (int, error) {
	ids := make([]string, len(items))
	markers := make([]store.BatchItem, len(items))
	for i, it := range items {
		name := itemName(job, it.Key)
		ids[i] = itemID(created, name)
		markers[i] = store.BatchItem{Key: store.Key{Bucket: bucketQueueKeys, ID: name}, Value: []byte(ids[i]), TTL: queueRetention}
	}
	isNew, err := store.PutIfAbsentMany(ctx, q.b, markers)
	if err != nil {
		return 0, fmt.Errorf("notify: queue: %w", err)
	}
	added := 0
	writes := make([]store.BatchItem, 0, len(items))
	for i, it := range items {
		if isNew[i] {
			added++
		} else {
			current, err := q.b.Get(ctx, markers[i].Key)
			if errors.Is(err, store.ErrNotFound) {
				continue // expired meanwhile: the job is over
			}
			if err != nil {
				return 0, fmt.Errorf("notify: queue: %w", err)
			}
			if string(current) != ids[i] {
				continue // retried, sent or given up: not ours to touch
			}
		}
		value, err := json.Marshal(newItemRecord(job, it))
		if err != nil {
			return 0, fmt.Errorf("notify: queue: %w", err)
		}
		writes = append(writes, store.BatchItem{Key: store.Key{Bucket: bucketQueueItems, ID: ids[i]}, Value: value, TTL: queueRetention})
	}
	// PutIfAbsent: an item still queued (or being sent) stays as it is.
	stored, err := store.PutIfAbsentMany(ctx, q.b, writes)
	if err != nil {
		return 0, fmt.Errorf("notify: queue: %w", err)
	}
	// Total counts first items written, not markers: each is written once,
	// and one lost earlier was not counted then.
	written := 0
	for _, ok := range stored {
		if ok {
			written++
		}
	}
	if written > 0 {
		if _, err := q.updateJob(ctx, job, func(j *jobRecord) { j.Total += written }); err != nil {
			return 0, err
		}
	}
	return added, nil
}

// Progress reports how far job has got; an unknown job has zero counts.
func (q *Queue) Progress(ctx context.Context, job string) (Progress, error) {
	p := Progress{Job: job}
	if job == "" || strings.IndexByte(job, 0) >= 0 {
		return p, fmt.Errorf("notify: queue: invalid job name %q", job)
	}
	raw, err := q.b.Get(ctx, store.Key{Bucket: bucketQueueJobs, ID: job})
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("notify: queue: %w", err)
	}
	var rec jobRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return p, fmt.Errorf("notify: queue: job %s: %w", job, err)
	}
	p.Total, p.Sent, p.Retrying, p.GaveUp = rec.Total, rec.Sent, max(rec.Retrying, 0), rec.GaveUp
	p.Failed = p.Retrying + p.GaveUp
	// A worker may count a message before its enqueue counts it.
	p.Total = max(p.Total, p.Sent+p.Failed)
	p.Pending = p.Total - p.Sent - p.Failed
	p.Created, p.Updated = rec.Created, rec.Updated
	return p, nil
}

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
			if due.After(time.Now()) {
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
	retryID := itemID(time.Now().Add(delay), name)
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

// jobRecord is a job's counters as stored.
type jobRecord struct {
	Total    int       `json:"total"`
	Sent     int       `json:"sent"`
	Retrying int       `json:"retrying"`
	GaveUp   int       `json:"gave_up"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// updateJob applies change to job's counters, creating them if needed.
func (q *Queue) updateJob(ctx context.Context, job string, change func(*jobRecord)) (jobRecord, error) {
	var rec jobRecord
	_, err := q.b.Update(ctx, store.Key{Bucket: bucketQueueJobs, ID: job}, func(old []byte) ([]byte, time.Duration, error) {
		rec = jobRecord{}
		if old != nil {
			if err := json.Unmarshal(old, &rec); err != nil {
				return nil, 0, fmt.Errorf("job %s: %w", job, err)
			}
		}
		now := time.Now()
		if rec.Created.IsZero() {
			rec.Created = now
		}
		change(&rec)
		rec.Updated = now
		value, err := json.Marshal(rec)
		return value, queueRetention, err
	})
	if err != nil {
		return rec, fmt.Errorf("notify: queue: %w", err)
	}
	return rec, nil
}

// itemRecord is one queued message as stored. The message is rendered
// already; it holds no secret (setup instructions), but addresses are only
// logged masked.
type itemRecord struct {
	Job      string `json:"job"`
	Key      string `json:"key"`
	To       string `json:"to"`
	Subject  string `json:"subject"`
	Text     string `json:"text"`
	HTML     string `json:"html,omitempty"`
	Attempts int    `json:"attempts,omitempty"` // failed so far
}

func newItemRecord(job string, it QueuedEmail) itemRecord {
	m := it.Email
	return itemRecord{Job: job, Key: it.Key, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
}

func (r itemRecord) email() Email {
	return Email{To: r.To, Subject: r.Subject, Text: r.Text, HTML: r.HTML}
}

// itemName is unique per (job, key) even when either holds '/'.
func itemName(job, key string) string {
	return strconv.Itoa(len(job)) + ":" + job + "/" + key
}

// itemID sorts by due time, then name.
func itemID(due time.Time, name string) string {
	return fmt.Sprintf("%0*d/%s", dueDigits, due.UnixNano(), name)
}

func parseDue(id string) (time.Time, bool) {
	if len(id) <= dueDigits || id[dueDigits] != '/' {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(id[:dueDigits], 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
