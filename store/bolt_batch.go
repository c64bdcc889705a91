package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// PutIfAbsentBatch implements Batcher in one write transaction.
func (b *Bolt) PutIfAbsentBatch(ctx context.Context, items []BatchItem) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkBatch(items); err != nil {
		return nil, err
	}
	stored := make([]bool, len(items))
	if len(items) == 0 {
		return stored, nil
	}
	// bbolt inserts keys in order much faster than at random; a stable sort
	// keeps duplicates in batch order, so the first of them wins.
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, c := items[i].Key, items[j].Key
		if n := strings.Compare(a.Bucket, c.Bucket); n != 0 {
			return n
		}
		return strings.Compare(a.ID, c.ID)
	})
	err := b.update("put if absent batch", func(tx *bbolt.Tx) error {
		now := time.Now()
		var bk *bbolt.Bucket
		var bucket string
		wrote := false
		for _, i := range order {
			it := items[i]
			if bk == nil || it.Key.Bucket != bucket {
				var err error
				if bk, err = writeBucket(tx, it.Key.Bucket, it.Key.ID); err != nil {
					return err
				}
				bucket = it.Key.Bucket
			}
			if _, err := liveValue(bk, it.Key.ID, now); !errors.Is(err, ErrNotFound) {
				if err != nil {
					return err
				}
				continue // present: leave it
			}
			exp, err := expiry(now, it.TTL)
			if err != nil {
				return err
			}
			if err := putValue(tx, bk, it.Key.Bucket, it.Key.ID, it.Value, exp); err != nil {
				return err
			}
			stored[i], wrote = true, true
		}
		if !wrote {
			return errNoChange // spare the commit (and any bucket created)
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return stored, nil
	}
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// GetBatch implements Batcher in one read transaction, so the values are
// one consistent snapshot.
func (b *Bolt) GetBatch(ctx context.Context, keys []Key) ([][]byte, error) {
	if err := checkKeys(ctx, keys); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	err := b.view("get batch", func(tx *bbolt.Tx) error {
		now := time.Now()
		for i, k := range keys {
			v, err := liveValue(tx.Bucket([]byte(k.Bucket)), k.ID, now)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out[i] = bytes.Clone(v) // v lives in the mmap, valid only within tx
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListBatch implements ListBatcher in one read transaction, so the pages
// are one consistent snapshot.
func (b *Bolt) ListBatch(ctx context.Context, buckets []string, limit int) ([][]Entry, error) {
	if err := checkList(ctx, buckets, limit); err != nil {
		return nil, err
	}
	limit = min(limit, MaxListLimit)
	out := make([][]Entry, len(buckets))
	err := b.view("list batch", func(tx *bbolt.Tx) error {
		for i, bucket := range buckets {
			entries, err := listBucket(tx, bucket, "", limit, false)
			if err != nil {
				return err
			}
			out[i] = entries
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
