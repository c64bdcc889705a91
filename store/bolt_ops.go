package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// Get implements Backend.
func (b *Bolt) Get(ctx context.Context, k Key) ([]byte, error) {
	if err := begin(ctx, k); err != nil {
		return nil, err
	}
	var out []byte
	err := b.view("get", func(tx *bbolt.Tx) error {
		v, err := liveValue(tx.Bucket([]byte(k.Bucket)), k.ID, time.Now())
		if err != nil {
			return err
		}
		out = bytes.Clone(v) // v lives in the mmap, valid only within tx
		return nil
	})
	return out, err
}

// Put implements Backend.
func (b *Bolt) Put(ctx context.Context, k Key, value []byte, ttl time.Duration) error {
	if err := begin(ctx, k); err != nil {
		return err
	}
	exp, err := expiry(time.Now(), ttl)
	if err != nil {
		return err
	}
	return b.update("put", func(tx *bbolt.Tx) error {
		bk, err := writeBucket(tx, k.Bucket, k.ID)
		if err != nil {
			return err
		}
		return putValue(tx, bk, k.Bucket, k.ID, value, exp)
	})
}

// PutIfAbsent implements Backend.
func (b *Bolt) PutIfAbsent(ctx context.Context, k Key, value []byte, ttl time.Duration) (bool, error) {
	if err := begin(ctx, k); err != nil {
		return false, err
	}
	now := time.Now()
	exp, err := expiry(now, ttl)
	if err != nil {
		return false, err
	}
	err = b.update("put if absent", func(tx *bbolt.Tx) error {
		if _, err := liveValue(tx.Bucket([]byte(k.Bucket)), k.ID, now); !errors.Is(err, ErrNotFound) {
			if err == nil {
				err = errNoChange // present: nothing to write
			}
			return err
		}
		bk, err := writeBucket(tx, k.Bucket, k.ID)
		if err != nil {
			return err
		}
		return putValue(tx, bk, k.Bucket, k.ID, value, exp)
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements Backend.
func (b *Bolt) Delete(ctx context.Context, k Key) error {
	if err := begin(ctx, k); err != nil {
		return err
	}
	err := b.update("delete", func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(k.Bucket))
		if bk == nil || bk.Get([]byte(k.ID)) == nil {
			return errNoChange
		}
		return deleteValue(tx, bk, k.Bucket, k.ID)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// Take implements Backend.
func (b *Bolt) Take(ctx context.Context, k Key) ([]byte, error) {
	if err := begin(ctx, k); err != nil {
		return nil, err
	}
	var out []byte
	err := b.update("take", func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(k.Bucket))
		v, err := liveValue(bk, k.ID, time.Now())
		if err != nil {
			return err
		}
		out = bytes.Clone(v)
		return deleteValue(tx, bk, k.Bucket, k.ID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Update implements Backend. fn runs inside the single write transaction
// that also stores its result, so it is never retried; it must not call
// back into the Bolt (that would deadlock).
func (b *Bolt) Update(ctx context.Context, k Key, fn func(old []byte) ([]byte, time.Duration, error)) ([]byte, error) {
	if err := begin(ctx, k); err != nil {
		return nil, err
	}
	var out []byte
	err := b.update("update", func(tx *bbolt.Tx) error {
		now := time.Now()
		bk := tx.Bucket([]byte(k.Bucket))
		old, err := liveValue(bk, k.ID, now)
		switch {
		case errors.Is(err, ErrNotFound):
			old = nil
		case err != nil:
			return err
		default:
			old = bytes.Clone(old) // fn may keep it past the transaction
		}
		value, ttl, err := fn(old)
		if errors.Is(err, ErrAbort) {
			out = old
			return errNoChange
		}
		if err != nil {
			return fnError{err}
		}
		if value == nil {
			out = nil
			if old == nil {
				return errNoChange
			}
			return deleteValue(tx, bk, k.Bucket, k.ID)
		}
		exp, err := expiry(now, ttl)
		if err != nil {
			return fnError{err}
		}
		if bk == nil {
			if bk, err = writeBucket(tx, k.Bucket, k.ID); err != nil {
				return err
			}
		}
		out = bytes.Clone(value)
		return putValue(tx, bk, k.Bucket, k.ID, value, exp)
	})
	if errors.Is(err, errNoChange) {
		return out, nil
	}
	if fe, ok := errors.AsType[fnError](err); ok {
		return nil, fe.err
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Incr implements Backend. The counter's expiry header is its window end.
func (b *Bolt) Incr(ctx context.Context, k Key, delta int64, window time.Duration) (int64, time.Time, error) {
	if err := begin(ctx, k); err != nil {
		return 0, time.Time{}, err
	}
	if window < 0 {
		return 0, time.Time{}, fmt.Errorf("store: negative window %v", window)
	}
	var count, exp int64
	if delta == 0 {
		// Only a read: no write transaction, no disk sync, and an absent
		// counter stays absent.
		err := b.view("incr", func(tx *bbolt.Tx) error {
			bk := tx.Bucket([]byte(k.Bucket))
			if bk == nil {
				return nil
			}
			old, oldExp, err := decode(bk.Get([]byte(k.ID)))
			if err != nil || old == nil || !live(oldExp, time.Now()) {
				return err
			}
			if count, err = strconv.ParseInt(string(old), 10, 64); err != nil {
				return fnError{fmt.Errorf("store: %s %q is not a counter", k.Bucket, k.ID)}
			}
			exp = oldExp
			return nil
		})
		if fe, ok := errors.AsType[fnError](err); ok {
			return 0, time.Time{}, fe.err
		}
		if err != nil {
			return 0, time.Time{}, err
		}
		return count, boltResetsAt(exp), nil
	}
	err := b.update("incr", func(tx *bbolt.Tx) error {
		now := time.Now()
		bk, err := writeBucket(tx, k.Bucket, k.ID)
		if err != nil {
			return err
		}
		old, oldExp, err := decode(bk.Get([]byte(k.ID)))
		if err != nil {
			return err
		}
		if old != nil && live(oldExp, now) {
			if count, err = strconv.ParseInt(string(old), 10, 64); err != nil {
				return fnError{fmt.Errorf("store: %s %q is not a counter", k.Bucket, k.ID)}
			}
			exp = oldExp
		} else {
			count = 0
			if exp, err = expiry(now, window); err != nil {
				return err
			}
		}
		count += delta
		return putValue(tx, bk, k.Bucket, k.ID, strconv.AppendInt(nil, count, 10), exp)
	})
	if fe, ok := errors.AsType[fnError](err); ok {
		return 0, time.Time{}, fe.err
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, boltResetsAt(exp), nil
}

// boltResetsAt turns a stored expiry into Incr's window end (zero: none).
func boltResetsAt(exp int64) time.Time {
	if exp == 0 {
		return time.Time{}
	}
	return time.Unix(0, exp)
}

// List implements Backend.
func (b *Bolt) List(ctx context.Context, bucket string, after string, limit int, reverse bool) ([]Entry, error) {
	if err := checkListOne(ctx, bucket, limit); err != nil {
		return nil, err
	}
	limit = min(limit, MaxListLimit)
	var out []Entry
	err := b.view("list", func(tx *bbolt.Tx) error {
		var err error
		out, err = listBucket(tx, bucket, after, limit, reverse)
		return err
	})
	return out, err
}

// listBucket is List within tx; limit is already capped.
func listBucket(tx *bbolt.Tx, bucket, after string, limit int, reverse bool) ([]Entry, error) {
	bk := tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil, nil
	}
	now := time.Now()
	c := bk.Cursor()
	var k, raw []byte
	switch {
	case !reverse && after == "":
		k, raw = c.First()
	case !reverse:
		// Seek finds the first ID >= after; skip after itself.
		if k, raw = c.Seek([]byte(after)); k != nil && string(k) == after {
			k, raw = c.Next()
		}
	case after == "":
		k, raw = c.Last()
	default:
		// Seek finds the first ID >= after, so the one before it is
		// the first below after; when none is >= after, it is the last.
		if k, _ = c.Seek([]byte(after)); k == nil {
			k, raw = c.Last()
		} else {
			k, raw = c.Prev()
		}
	}
	var out []Entry
	for ; k != nil && len(out) < limit; k, raw = step(c, reverse) {
		if raw == nil {
			continue // a nested bucket: not ours
		}
		v, exp, err := decode(raw)
		if err != nil {
			return out, err // with the entries before the corrupt one, as ever
		}
		if live(exp, now) {
			out = append(out, Entry{ID: string(k), Value: bytes.Clone(v)})
		}
	}
	return out, nil
}

func step(c *bbolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}
