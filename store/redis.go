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
// Replication is asynchronous: with RedisOptions.WaitReplicas, writes of
// the records a failover must not lose return once replicas have them.
//
// Run Redis with an eviction policy that never evicts keys without TTL
// (noeviction or volatile-*): an evicted index hides live values from List.
type Redis struct {
	client     redis.UniversalClient
	ownsClient bool
	layout     redisLayout
	timeout    time.Duration
	changes    *redisChanges
	// RedisOptions' WaitReplicas, WaitTimeout and WaitFor: 0 replicas,
	// nothing waits.
	waitReplicas int
	waitTimeout  time.Duration
	waitFor      func(bucket string) bool

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
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	uo, err := opts.clientOptions()
	if err != nil {
		return nil, err
	}
	r := newRedis(redis.NewUniversalClient(uo), opts.KeyPrefix, opts.Timeout, true)
	r.waitReplicas, r.waitTimeout, r.waitFor = opts.WaitReplicas, opts.WaitTimeout, opts.WaitFor
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
// Its writes wait for no replica.
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

// writeContext bounds one write to bucket: by the timeout, plus the wait
// for replicas when the write waits for them.
func (r *Redis) writeContext(ctx context.Context, bucket string) (context.Context, context.CancelFunc) {
	if r.waitsFor(bucket) {
		return context.WithTimeout(ctx, r.timeout+r.waitTimeout)
	}
	return r.callContext(ctx)
}

// waitsFor reports whether writes to bucket wait for replicas.
func (r *Redis) waitsFor(bucket string) bool {
	return r.waitReplicas > 0 && r.waitFor(bucket)
}

// runWrite runs a script that writes keys of bucket. When the bucket's
// records must survive a failover, WAIT follows the script in one
// pipeline: WAIT counts the replicas that have every write made on its own
// connection, so it must share the script's, at the master of the keys'
// slot in a cluster. Too few replicas in time set the reply's error; the
// script's own error (or nil reply) comes first, unchanged.
func (r *Redis) runWrite(ctx context.Context, bucket string, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	if !r.waitsFor(bucket) {
		return s.Run(ctx, r.client, keys, args...)
	}
	master, err := r.masterOf(ctx, keys[0])
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	cmd, acked := r.writeAndWait(ctx, master, s, keys, args)
	if cmd.Err() != nil {
		return cmd // classify reads the slot map again: it may be stale
	}
	switch n, err := acked.Result(); {
	case err != nil:
		cmd.SetErr(err)
	case n < int64(r.waitReplicas):
		cmd.SetErr(fmt.Errorf("%d of %d replicas acknowledged the write within %v", n, r.waitReplicas, r.waitTimeout))
	}
	return cmd
}

// writeAndWait pipelines one script and a WAIT, on one connection. EVAL,
// not EVALSHA: a pipeline cannot fall back on NOSCRIPT as Script.Run does,
// and a second round would wait a second time.
func (r *Redis) writeAndWait(ctx context.Context, master redis.Cmdable, s *redis.Script, keys []string, args []any) (*redis.Cmd, *redis.IntCmd) {
	var cmd *redis.Cmd
	var acked *redis.IntCmd
	_, err := master.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = s.Eval(ctx, p, keys, args...)
		acked = redis.NewIntCmd(ctx, "wait", r.waitReplicas, r.waitTimeout.Milliseconds())
		return p.Process(ctx, acked)
	})
	if err != nil && cmd.Err() == nil && acked.Err() == nil {
		cmd.SetErr(err) // failed as a whole
	}
	return cmd, acked
}

// masterOf is where a write that waits goes with its WAIT: in a cluster the
// node serving key's slot (a cluster pipeline would send the keyless WAIT
// to any master), else the client, whose pipelines use one connection.
func (r *Redis) masterOf(ctx context.Context, key string) (redis.Cmdable, error) {
	cc, ok := r.client.(*redis.ClusterClient)
	if !ok {
		return r.client, nil
	}
	node, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	return node, nil
}

// reloadClusterState has a Cluster client read the slot map again.
func (r *Redis) reloadClusterState() {
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		cc.ReloadState(context.Background())
	}
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
	}
	// A Cluster's slot map may be stale (a master died and its replica was
	// promoted, or a write sent to a node directly met MOVED): reload it
	// now rather than at go-redis's next periodic reload, a minute away.
	// It reloads in the background, at most every 200 ms.
	r.reloadClusterState()
	switch {
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
