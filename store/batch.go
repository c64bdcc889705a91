package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.etcd.io/bbolt"
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

var (
	_ Batcher = (*Bolt)(nil)
	_ Batcher = (*Redis)(nil)
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

// redisBatchChunk bounds the commands of one pipelined round trip, so each
// fits comfortably in the per-call timeout.
const redisBatchChunk = 100

// PutIfAbsentBatch implements Batcher with pipelines of the script Put
// uses, so the list index is maintained exactly as for single writes. Each
// item is atomic; the batch is not.
func (r *Redis) PutIfAbsentBatch(ctx context.Context, items []BatchItem) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkBatch(items); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, errRedisClosed
	}
	ttls := make([]int64, len(items))
	for i, it := range items {
		ms, err := millis(it.TTL, "TTL")
		if err != nil {
			return nil, err
		}
		ttls[i] = ms
	}
	stored := make([]bool, len(items))
	for start := 0; start < len(items); start += redisBatchChunk {
		end := min(start+redisBatchChunk, len(items))
		if err := r.putIfAbsentChunk(ctx, items[start:end], ttls[start:end], stored[start:end]); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

func (r *Redis) putIfAbsentChunk(ctx context.Context, items []BatchItem, ttls []int64, stored []bool) error {
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	cmds := make([]*redis.Cmd, len(items))
	_, err := r.client.Pipelined(cctx, func(p redis.Pipeliner) error {
		for i, it := range items {
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			cmds[i] = storeScript.Eval(cctx, p, r.storeKeys(it.Key), r.storeArgv(it.Key, it.Value, ttls[i], true)...)
		}
		return nil
	})
	if err != nil {
		return r.classify(ctx, "put if absent batch", items[0].Key.Bucket, err)
	}
	for i, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return r.classify(ctx, "put if absent batch", items[i].Key.Bucket, err)
		}
		stored[i] = n == 1
	}
	return nil
}

// GetBatch implements Batcher with pipelined GETs: one round trip per
// chunk, and in a Redis Cluster one per node. Each value is read
// atomically; the batch is not a snapshot.
func (r *Redis) GetBatch(ctx context.Context, keys []Key) ([][]byte, error) {
	if err := checkKeys(ctx, keys); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, errRedisClosed
	}
	out := make([][]byte, len(keys))
	for start := 0; start < len(keys); start += redisBatchChunk {
		end := min(start+redisBatchChunk, len(keys))
		if err := r.getChunk(ctx, keys[start:end], out[start:end]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Redis) getChunk(ctx context.Context, keys []Key, out [][]byte) error {
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := r.client.Pipelined(cctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(cctx, r.valueKey(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return r.classify(ctx, "get batch", keys[0].Bucket, err)
	}
	for i, c := range cmds {
		v, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return r.classify(ctx, "get batch", keys[i].Bucket, err)
		}
		out[i] = nonNil(v)
	}
	return nil
}
