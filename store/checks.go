package store

import (
	"context"
	"fmt"
)

// Checks every backend makes before reaching storage: a caller's mistake
// fails before anything is read or written, whichever backend it meets.

// begin checks what every keyed method checks first.
func begin(ctx context.Context, k Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return k.Check()
}

// checkKeys rejects a batch read with an invalid key before reading.
func checkKeys(ctx context.Context, keys []Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := k.Check(); err != nil {
			return err
		}
	}
	return nil
}

// checkBatch rejects what no backend would store, so that a batch fails
// before it writes anything.
func checkBatch(items []BatchItem) error {
	for _, it := range items {
		if err := it.Key.Check(); err != nil {
			return err
		}
		if it.TTL < 0 {
			return fmt.Errorf("store: negative TTL %v", it.TTL)
		}
	}
	return nil
}

// checkList rejects a batch list with an invalid bucket or limit before
// reading.
func checkList(ctx context.Context, buckets []string, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if limit <= 0 {
		return fmt.Errorf("store: list batch: limit must be positive, not %d", limit)
	}
	for _, bucket := range buckets {
		if err := CheckBucket(bucket); err != nil {
			return err
		}
	}
	return nil
}

// checkListOne rejects a list of one bucket with an invalid bucket or
// limit before reading.
func checkListOne(ctx context.Context, bucket string, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckBucket(bucket); err != nil {
		return err
	}
	if limit <= 0 {
		return fmt.Errorf("store: list %q: limit must be positive, not %d", bucket, limit)
	}
	return nil
}
