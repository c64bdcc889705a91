package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	defaultRedisPrefix  = "2fa:"
	defaultRedisTimeout = 250 * time.Millisecond
	// redisSubscriberBuffer is how many changes a subscriber may fall
	// behind before it gets a ChangeResync instead (as Bolt's default).
	redisSubscriberBuffer = 64
	// maxUpdateAttempts bounds Update's optimistic retries before
	// ErrConflict. Each lost race means another writer succeeded, so even
	// dozens of writers on one key finish well within it.
	maxUpdateAttempts = 100
)

// Redis is a Backend on Redis, shared by every gateway that points at the
// same database and prefix. Values live at
//
//	PREFIX{BUCKET}:ID
//
// with their TTL as Redis's expiry; '%' and '}' in BUCKET are
// percent-escaped so the braces delimit it unambiguously, and in a cluster
// they are a hash tag, putting a bucket's keys in one slot (the multi-key
// scripts and transactions below need that). PREFIX{BUCKET}#ids is a sorted
// set of the bucket's IDs for List; an ID may outlive its expired value
// there, and is removed when List meets it or a write samples it. Change
// notifications go over pub/sub channel PREFIXchanges.
//
// Run Redis with an eviction policy that never evicts keys without TTL
// (noeviction or volatile-*): an evicted index hides live values from List.
type Redis struct {
	client     redis.UniversalClient
	ownsClient bool
	layout     redisLayout
	timeout    time.Duration
	changes    *redisChanges

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ Backend = (*Redis)(nil)

// OpenRedis connects to Redis and subscribes to change notifications. It
// fails, wrapping ErrUnavailable, when Redis does not answer within
// opts.Timeout (or ctx ends first): a wrong address or password shows at
// startup rather than as failed logins later.
func OpenRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultRedisTimeout
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = defaultRedisPrefix
	}
	uo, err := opts.clientOptions()
	if err != nil {
		return nil, err
	}
	r := newRedis(redis.NewUniversalClient(uo), opts.KeyPrefix, opts.Timeout, true)
	where := strings.Join(uo.Addrs, ",")
	if err := r.Ping(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("store: redis at %s: %w", where, err)
	}
	wait := time.NewTimer(r.changes.liveWait())
	defer wait.Stop()
	select {
	case <-r.changes.live:
		return r, nil
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	case <-wait.C:
		r.Close()
		return nil, fmt.Errorf("store: redis at %s: change subscription not confirmed within %v: %w",
			where, r.changes.liveWait(), ErrUnavailable)
	}
}

// NewRedisFromClient makes a Backend of an existing client, which the
// caller keeps and closes (after the Redis). prefix and timeout default as
// in RedisOptions. The client's own timeouts should not exceed timeout.
func NewRedisFromClient(c redis.UniversalClient, prefix string, timeout time.Duration) *Redis {
	if prefix == "" {
		prefix = defaultRedisPrefix
	}
	if timeout <= 0 {
		timeout = defaultRedisTimeout
	}
	return newRedis(c, prefix, timeout, false)
}

func newRedis(c redis.UniversalClient, prefix string, timeout time.Duration, owns bool) *Redis {
	layout := redisLayout{prefix: prefix}
	return &Redis{
		client:     c,
		ownsClient: owns,
		layout:     layout,
		timeout:    timeout,
		changes:    newRedisChanges(c, layout.channel(), timeout),
	}
}

// Ping implements Backend.
func (r *Redis) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.closed.Load() {
		return errRedisClosed
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	return r.classify(ctx, "ping", "", r.client.Ping(cctx).Err())
}

// Close ends every subscription and, unless the client came from
// NewRedisFromClient, closes it.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.changes.stop()
		if r.ownsClient {
			if err := r.client.Close(); err != nil {
				r.closeErr = fmt.Errorf("store: redis close: %w: %w", err, ErrUnavailable)
			}
		}
	})
	return r.closeErr
}

var errRedisClosed = fmt.Errorf("store: redis is closed: %w", ErrUnavailable)

// begin checks what every keyed method checks first.
func (r *Redis) begin(ctx context.Context, k Key) error {
	if err := begin(ctx, k); err != nil {
		return err
	}
	if r.closed.Load() {
		return errRedisClosed
	}
	return nil
}

// callContext bounds one call to Redis by the timeout.
func (r *Redis) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// classify maps a go-redis error: a missing key is ErrNotFound, the
// caller's own cancellation stays what it is, and everything else (no
// connection, the timeout, a closed client, a server error) wraps
// ErrUnavailable.
func (r *Redis) classify(ctx context.Context, op, bucket string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return ErrNotFound
	case ctx.Err() != nil:
		return fmt.Errorf("store: redis %s: %w", op, ctx.Err())
	case bucket != "":
		return fmt.Errorf("store: redis %s %q: %w: %w", op, bucket, err, ErrUnavailable)
	default:
		return fmt.Errorf("store: redis %s: %w: %w", op, err, ErrUnavailable)
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
