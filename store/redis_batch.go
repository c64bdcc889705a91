package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

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
	if r.waitsForAny(items) {
		// Each write with its own WAIT at its key's master: simpler than a
		// WAIT per node, and no batch written today holds such a record.
		for i, it := range items {
			ok, err := r.store(ctx, "put if absent batch", it.Key, it.Value, it.TTL, true)
			if err != nil {
				return nil, err
			}
			stored[i] = ok
		}
		return stored, nil
	}
	for start := 0; start < len(items); start += redisBatchChunk {
		end := min(start+redisBatchChunk, len(items))
		if err := r.putIfAbsentChunk(ctx, items[start:end], ttls[start:end], stored[start:end]); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// waitsForAny reports whether a write of the batch waits for replicas.
func (r *Redis) waitsForAny(items []BatchItem) bool {
	for _, it := range items {
		if r.waitsFor(it.Key.Bucket) {
			return true
		}
	}
	return false
}

func (r *Redis) putIfAbsentChunk(ctx context.Context, items []BatchItem, ttls []int64, stored []bool) error {
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	cmds := make([]*redis.Cmd, len(items))
	_, err := r.client.Pipelined(cctx, func(p redis.Pipeliner) error {
		for i, it := range items {
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			cmds[i] = storeScript.Eval(cctx, p, r.layout.storeKeys(it.Key), r.layout.storeArgv(it.Key, it.Value, ttls[i], true)...)
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
			cmds[i] = p.Get(cctx, r.layout.valueKey(k))
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

// ListBatch implements ListBatcher with pipelines of the script List uses:
// one round trip per chunk, and in a Redis Cluster one per node. Each page
// is a snapshot of its bucket; the batch is not.
func (r *Redis) ListBatch(ctx context.Context, buckets []string, limit int) ([][]Entry, error) {
	if err := checkList(ctx, buckets, limit); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, errRedisClosed
	}
	limit = min(limit, MaxListLimit)
	out := make([][]Entry, len(buckets))
	for start := 0; start < len(buckets); start += redisBatchChunk {
		end := min(start+redisBatchChunk, len(buckets))
		if err := r.listChunk(ctx, buckets[start:end], limit, out[start:end]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Redis) listChunk(ctx context.Context, buckets []string, limit int, out [][]Entry) error {
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	cmds := make([]*redis.Cmd, len(buckets))
	pipeline := func(run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) error {
		_, err := r.client.Pipelined(cctx, func(p redis.Pipeliner) error {
			for i, bucket := range buckets {
				keys, argv := r.layout.listArgs(bucket, "", limit, false)
				cmds[i] = run(cctx, p, keys, argv...)
			}
			return nil
		})
		return err
	}
	// EVALSHA spares sending the script once per bucket. A pipeline cannot
	// fall back on NOSCRIPT command by command as Script.Run does, so a
	// server without the script cached (restarted, or its cache flushed)
	// gets the chunk again as EVALs, which cache it.
	err := pipeline(listScript.EvalSha)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		err = pipeline(listScript.Eval)
	}
	if err != nil {
		return r.classify(ctx, "list batch", buckets[0], err)
	}
	for i, c := range cmds {
		flat, err := c.StringSlice()
		if err != nil {
			return r.classify(ctx, "list batch", buckets[i], err)
		}
		out[i] = listEntries(flat)
	}
	return nil
}
