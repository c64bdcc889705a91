package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Get implements Backend.
func (r *Redis) Get(ctx context.Context, k Key) ([]byte, error) {
	if err := r.begin(ctx, k); err != nil {
		return nil, err
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	v, err := r.client.Get(cctx, r.layout.valueKey(k)).Bytes()
	if err != nil {
		return nil, r.classify(ctx, "get", k.Bucket, err)
	}
	return nonNil(v), nil
}

// Put implements Backend.
func (r *Redis) Put(ctx context.Context, k Key, value []byte, ttl time.Duration) error {
	_, err := r.store(ctx, "put", k, value, ttl, false)
	return err
}

// PutIfAbsent implements Backend.
func (r *Redis) PutIfAbsent(ctx context.Context, k Key, value []byte, ttl time.Duration) (bool, error) {
	return r.store(ctx, "put if absent", k, value, ttl, true)
}

func (r *Redis) store(ctx context.Context, op string, k Key, value []byte, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	if err := r.begin(ctx, k); err != nil {
		return false, err
	}
	ms, err := millis(ttl, "TTL")
	if err != nil {
		return false, err
	}
	cctx, cancel := r.writeContext(ctx, k.Bucket)
	defer cancel()
	n, err := r.runWrite(cctx, k.Bucket, storeScript, r.layout.storeKeys(k), r.layout.storeArgv(k, value, ms, onlyIfAbsent)...).Int()
	if err != nil {
		return false, r.classify(ctx, op, k.Bucket, err)
	}
	return n == 1, nil
}

// Delete implements Backend.
func (r *Redis) Delete(ctx context.Context, k Key) error {
	if err := r.begin(ctx, k); err != nil {
		return err
	}
	cctx, cancel := r.writeContext(ctx, k.Bucket)
	defer cancel()
	err := r.runWrite(cctx, k.Bucket, deleteScript, r.layout.storeKeys(k), k.ID).Err()
	return r.classify(ctx, "delete", k.Bucket, err)
}

// Take implements Backend: the script's GETDEL is atomic, so of concurrent
// callers (in any process) one gets the value.
func (r *Redis) Take(ctx context.Context, k Key) ([]byte, error) {
	if err := r.begin(ctx, k); err != nil {
		return nil, err
	}
	cctx, cancel := r.writeContext(ctx, k.Bucket)
	defer cancel()
	v, err := r.runWrite(cctx, k.Bucket, takeScript, r.layout.storeKeys(k), k.ID).Text()
	if err != nil {
		return nil, r.classify(ctx, "take", k.Bucket, err)
	}
	return nonNil([]byte(v)), nil
}

// Update implements Backend with optimistic locking: read the key, call fn
// (holding no lock), and write with casScript, which refuses if the value
// changed meanwhile; then fn runs again on the new value. Two round trips
// when uncontended, and no connection is held between them; one when ctx
// knows the value (WithKnownValues) and it is still current.
func (r *Redis) Update(ctx context.Context, k Key, fn func(old []byte) ([]byte, time.Duration, error)) ([]byte, error) {
	if err := r.begin(ctx, k); err != nil {
		return nil, err
	}
	if guess, ok := knownValue(ctx, k); ok {
		out, err := r.updateOnce(ctx, k, fn, guess, true)
		if !errors.Is(err, errLostRace) {
			return out, err
		}
	}
	for attempt := range maxUpdateAttempts {
		if attempt > 0 {
			// Jitter spreads out writers that keep colliding.
			pause := rand.N(time.Duration(min(attempt, 20)) * 100 * time.Microsecond)
			if err := sleepContext(ctx, pause); err != nil {
				return nil, err
			}
		}
		out, err := r.updateOnce(ctx, k, fn, nil, false)
		if errors.Is(err, errLostRace) {
			continue // another writer won this round
		}
		return out, err
	}
	return nil, fmt.Errorf("store: redis update %q: %d attempts lost to other writers: %w",
		k.Bucket, maxUpdateAttempts, ErrConflict)
}

// errLostRace: the value changed between updateOnce's read and its write.
var errLostRace = errors.New("store: redis value changed during update")

// updateOnce is one optimistic attempt, from the stored value or, when
// guessed, from guess; errLostRace means it lost (or guessed wrong).
func (r *Redis) updateOnce(ctx context.Context, k Key, fn func(old []byte) ([]byte, time.Duration, error), guess []byte, guessed bool) ([]byte, error) {
	cctx, cancel := r.writeContext(ctx, k.Bucket)
	defer cancel()
	old := guess
	if !guessed {
		var err error
		old, err = r.client.Get(cctx, r.layout.valueKey(k)).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			old = nil
		case err != nil:
			return nil, r.classify(ctx, "update", k.Bucket, err)
		default:
			old = nonNil(old)
		}
	}
	value, ttl, err := fn(old)
	if guessed && (err != nil || value == nil && old == nil) {
		// An answer that writes nothing leaves the guess unconfirmed: read
		// the stored value and decide on that.
		return nil, errLostRace
	}
	if errors.Is(err, ErrAbort) {
		return old, nil
	}
	if err != nil {
		return nil, err
	}
	if value == nil && old == nil {
		return nil, nil
	}
	ms, err := millis(ttl, "TTL")
	if err != nil {
		return nil, err
	}
	// The old value itself is the version compared: values are small, and
	// an exact comparison cannot be fooled the way a digest could.
	expect, had := "", "0"
	if old != nil {
		expect, had = string(old), "1"
	}
	write, stored := "set", any(value)
	if value == nil {
		write, stored = "del", ""
	}
	n, err := r.runWrite(cctx, k.Bucket, casScript, r.layout.storeKeys(k),
		had, expect, write, stored, ms, k.ID, r.layout.valueBase(k.Bucket)).Int()
	if err != nil {
		return nil, r.classify(ctx, "update", k.Bucket, err)
	}
	if n == 0 {
		return nil, errLostRace
	}
	return bytes.Clone(value), nil
}

// Incr implements Backend. A counter's window is its key's expiry.
func (r *Redis) Incr(ctx context.Context, k Key, delta int64, window time.Duration) (int64, time.Time, error) {
	if err := r.begin(ctx, k); err != nil {
		return 0, time.Time{}, err
	}
	ms, err := millis(window, "window")
	if err != nil {
		return 0, time.Time{}, err
	}
	cctx, cancel := r.writeContext(ctx, k.Bucket)
	defer cancel()
	if delta == 0 {
		return r.readCounter(ctx, cctx, k)
	}
	sent := time.Now()
	res, err := r.runWrite(cctx, k.Bucket, incrScript, r.layout.storeKeys(k),
		delta, ms, k.ID, r.layout.valueBase(k.Bucket)).Int64Slice()
	if err != nil {
		if redis.HasErrorPrefix(err, "NOTCOUNTER") {
			return 0, time.Time{}, fmt.Errorf("store: %s %q is not a counter (or would overflow)", k.Bucket, k.ID)
		}
		return 0, time.Time{}, r.classify(ctx, "incr", k.Bucket, err)
	}
	if len(res) != 2 {
		return 0, time.Time{}, fmt.Errorf("store: redis incr %q: unexpected reply %v: %w", k.Bucket, res, ErrUnavailable)
	}
	return res[0], resetsAt(sent, time.Duration(res[1])*time.Millisecond), nil
}

// readCounter is Incr by 0: it reads without creating the counter.
func (r *Redis) readCounter(ctx, cctx context.Context, k Key) (int64, time.Time, error) {
	key := r.layout.valueKey(k)
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	sent := time.Now()
	_, err := r.client.TxPipelined(cctx, func(p redis.Pipeliner) error {
		get = p.Get(cctx, key)
		pttl = p.PTTL(cctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, time.Time{}, r.classify(ctx, "incr", k.Bucket, err)
	}
	raw, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, r.classify(ctx, "incr", k.Bucket, err)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: %s %q is not a counter", k.Bucket, k.ID)
	}
	return n, resetsAt(sent, pttl.Val()), nil
}

// List implements Backend.
func (r *Redis) List(ctx context.Context, bucket string, after string, limit int, reverse bool) ([]Entry, error) {
	if err := checkListOne(ctx, bucket, limit); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, errRedisClosed
	}
	keys, argv := r.layout.listArgs(bucket, after, min(limit, MaxListLimit), reverse)
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	flat, err := listScript.Run(cctx, r.client, keys, argv...).StringSlice()
	if err != nil {
		return nil, r.classify(ctx, "list", bucket, err)
	}
	return listEntries(flat), nil
}

// millis converts a TTL or window to Redis's milliseconds, rounding up so a
// tiny positive duration does not become "forever".
func millis(d time.Duration, what string) (int64, error) {
	if d < 0 {
		return 0, fmt.Errorf("store: negative %s %v", what, d)
	}
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms, nil
}

// resetsAt turns a counter's remaining time to live, read by a call sent
// at sent, into its window's end; none (PTTL -1) is the zero Time. From
// when the call was sent, not answered: a WAIT may delay the answer.
func resetsAt(sent time.Time, pttl time.Duration) time.Time {
	if pttl <= 0 {
		return time.Time{}
	}
	return sent.Add(pttl)
}

// nonNil keeps a stored empty value distinguishable from an absent one.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
