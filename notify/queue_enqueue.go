package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

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
