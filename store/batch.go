package store

import (
	"context"
	"errors"
	"time"
)

// BatchItem is one value of a batched write.
type BatchItem struct {
	Key   Key
	Value []byte
	TTL   time.Duration
}

// Batcher is implemented by backends that write many values much faster
// together than one by one (bbolt commits, and syncs, once per transaction;
// Redis pays a round trip per call).
type Batcher interface {
	// PutIfAbsentBatch does PutIfAbsent for each item in order, reporting
	// for each whether it was stored: a key that exists, or that an earlier
	// item of the batch stored, is left as it is. An invalid key or a
	// negative TTL fails the batch before anything is written. On any other
	// error some items may have been stored.
	PutIfAbsentBatch(ctx context.Context, items []BatchItem) ([]bool, error)
	// GetBatch does Get for each key, in one read: values in key order,
	// nil for a key that does not exist. An invalid key fails the batch.
	GetBatch(ctx context.Context, keys []Key) ([][]byte, error)
}

// GetMany is GetBatch on any Backend: one read when b is a Batcher, one
// Get at a time otherwise.
func GetMany(ctx context.Context, b Backend, keys ...Key) ([][]byte, error) {
	if bb, ok := b.(Batcher); ok {
		return bb.GetBatch(ctx, keys)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := b.Get(ctx, k)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// PutIfAbsentMany is PutIfAbsentBatch on any Backend: batched when b is a
// Batcher, one PutIfAbsent at a time otherwise.
func PutIfAbsentMany(ctx context.Context, b Backend, items []BatchItem) ([]bool, error) {
	if bb, ok := b.(Batcher); ok {
		return bb.PutIfAbsentBatch(ctx, items)
	}
	if err := checkBatch(items); err != nil {
		return nil, err
	}
	stored := make([]bool, len(items))
	for i, it := range items {
		ok, err := b.PutIfAbsent(ctx, it.Key, it.Value, it.TTL)
		if err != nil {
			return nil, err
		}
		stored[i] = ok
	}
	return stored, nil
}

// ListBatcher is implemented by backends that list the first page of many
// buckets much faster together than one by one (the devices of every user
// on a page, say): bbolt in one read transaction, Redis in pipelines.
type ListBatcher interface {
	// ListBatch does List(ctx, bucket, "", limit, false) for each bucket:
	// entries in bucket order, nil for a bucket with none. An invalid
	// bucket or a limit that is not positive fails the batch before
	// anything is read.
	ListBatch(ctx context.Context, buckets []string, limit int) ([][]Entry, error)
}

// ListMany is ListBatch on any Backend: one read when b is a ListBatcher,
// one List at a time otherwise.
func ListMany(ctx context.Context, b Backend, buckets []string, limit int) ([][]Entry, error) {
	if lb, ok := b.(ListBatcher); ok {
		return lb.ListBatch(ctx, buckets, limit)
	}
	if err := checkList(ctx, buckets, limit); err != nil {
		return nil, err
	}
	out := make([][]Entry, len(buckets))
	for i, bucket := range buckets {
		entries, err := b.List(ctx, bucket, "", limit, false)
		if err != nil {
			return nil, err
		}
		out[i] = entries
	}
	return out, nil
}

var (
	_ Batcher     = (*Bolt)(nil)
	_ Batcher     = (*Redis)(nil)
	_ ListBatcher = (*Bolt)(nil)
	_ ListBatcher = (*Redis)(nil)
)
