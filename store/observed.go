package store

import (
	"context"
	"errors"
	"time"
)

// Observe is told of every store operation: its name, how long it took,
// and its error (ErrNotFound and ErrAbort are answers, not errors, and
// come as nil).
type Observe func(op string, took time.Duration, err error)

// Observed is b with every operation timed and told to observe (metrics);
// it keeps b's batching.
func Observed(b Backend, observe Observe) Backend { return &observed{b: b, observe: observe} }

type observed struct {
	b       Backend
	observe Observe
}

func (o *observed) done(op string, start time.Time, err error) {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAbort) {
		err = nil
	}
	o.observe(op, time.Since(start), err)
}

func (o *observed) Get(ctx context.Context, k Key) ([]byte, error) {
	start := time.Now()
	v, err := o.b.Get(ctx, k)
	o.done("get", start, err)
	return v, err
}

func (o *observed) Put(ctx context.Context, k Key, value []byte, ttl time.Duration) (err error) {
	start := time.Now()
	err = o.b.Put(ctx, k, value, ttl)
	o.done("put", start, err)
	return err
}

func (o *observed) PutIfAbsent(ctx context.Context, k Key, value []byte, ttl time.Duration) (bool, error) {
	start := time.Now()
	ok, err := o.b.PutIfAbsent(ctx, k, value, ttl)
	o.done("put_if_absent", start, err)
	return ok, err
}

func (o *observed) Delete(ctx context.Context, k Key) error {
	start := time.Now()
	err := o.b.Delete(ctx, k)
	o.done("delete", start, err)
	return err
}

func (o *observed) Take(ctx context.Context, k Key) ([]byte, error) {
	start := time.Now()
	v, err := o.b.Take(ctx, k)
	o.done("take", start, err)
	return v, err
}

func (o *observed) Update(ctx context.Context, k Key, fn func(old []byte) ([]byte, time.Duration, error)) ([]byte, error) {
	start := time.Now()
	v, err := o.b.Update(ctx, k, fn)
	o.done("update", start, err)
	return v, err
}

func (o *observed) Incr(ctx context.Context, k Key, delta int64, window time.Duration) (int64, time.Time, error) {
	start := time.Now()
	n, resets, err := o.b.Incr(ctx, k, delta, window)
	o.done("incr", start, err)
	return n, resets, err
}

func (o *observed) List(ctx context.Context, bucket, after string, limit int, reverse bool) ([]Entry, error) {
	start := time.Now()
	e, err := o.b.List(ctx, bucket, after, limit, reverse)
	o.done("list", start, err)
	return e, err
}

func (o *observed) GetBatch(ctx context.Context, keys []Key) ([][]byte, error) {
	start := time.Now()
	v, err := GetMany(ctx, o.b, keys...)
	o.done("get_batch", start, err)
	return v, err
}

func (o *observed) PutIfAbsentBatch(ctx context.Context, items []BatchItem) ([]bool, error) {
	start := time.Now()
	v, err := PutIfAbsentMany(ctx, o.b, items)
	o.done("put_batch", start, err)
	return v, err
}

func (o *observed) ListBatch(ctx context.Context, buckets []string, limit int) ([][]Entry, error) {
	start := time.Now()
	v, err := ListMany(ctx, o.b, buckets, limit)
	o.done("list_batch", start, err)
	return v, err
}

func (o *observed) Publish(ctx context.Context, c Change) error {
	start := time.Now()
	err := o.b.Publish(ctx, c)
	o.done("publish", start, err)
	return err
}

func (o *observed) Subscribe(ctx context.Context) <-chan Change { return o.b.Subscribe(ctx) }

func (o *observed) Ping(ctx context.Context) error {
	start := time.Now()
	err := o.b.Ping(ctx)
	o.done("ping", start, err)
	return err
}

func (o *observed) Close() error { return o.b.Close() }

var (
	_ Batcher     = (*observed)(nil)
	_ ListBatcher = (*observed)(nil)
)
