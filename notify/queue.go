package notify

import (
	"crypto/rand"
	"log/slog"
	"math"
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
	// Now is the clock of due times and job records (nil: time.Now; tests
	// set it). Waiting for the send rate always takes real time.
	Now func() time.Time
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
	if opts.Now == nil {
		opts.Now = time.Now
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
