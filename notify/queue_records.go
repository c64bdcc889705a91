package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

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
		now := q.opts.Now()
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

// Backlog counts the messages waiting (or being retried), and says when
// the one due first was due: zero when none waits.
func (q *Queue) Backlog(ctx context.Context) (waiting int, oldestDue time.Time, err error) {
	after := ""
	for {
		entries, err := q.b.List(ctx, bucketQueueItems, after, store.MaxListLimit, false)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("notify: queue: %w", err)
		}
		if waiting == 0 && len(entries) > 0 {
			oldestDue, _ = parseDue(entries[0].ID)
		}
		waiting += len(entries)
		if len(entries) < store.MaxListLimit {
			return waiting, oldestDue, nil
		}
		after = entries[len(entries)-1].ID
	}
}
