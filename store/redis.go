package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions say how to reach Redis. Exactly one of three deployments
// results: one address is a single server, a MasterName means Sentinel (the
// addresses are the Sentinels'), several addresses without one mean a
// Redis Cluster (the addresses are seed nodes).
type RedisOptions struct {
	// URL follows go-redis's conventions: redis://[user:password@]host:port/db
	// for one server (rediss:// for TLS, unix:///path for a socket); more
	// hosts as ?addr=host:port parameters or as a comma list
	// (redis://:pw@h1:26379,h2:26379); ?master_name=NAME for Sentinel, where
	// the userinfo authenticates to the Sentinels and, unless ?password= is
	// given, to the master too. Timeouts in the URL are replaced by Timeout.
	URL string
	// Addrs are more cluster nodes or Sentinels, without credentials; with
	// a URL they are added to its hosts.
	Addrs []string
	// MasterName selects Sentinel (as ?master_name= in URL does).
	MasterName string
	// KeyPrefix starts every key and the change channel, so several
	// gateways (or other programs) can share a database. Default "2fa:".
	// Braces in it would put every key in one cluster slot.
	KeyPrefix string
	// TLS turns TLS on even for a redis:// URL or bare Addrs.
	TLS bool
	// Timeout bounds every operation, including connecting: a Redis that
	// does not answer in time counts as unavailable. Default 250ms.
	Timeout time.Duration
}

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
	prefix     string
	channel    string
	timeout    time.Duration

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	listenCtx    context.Context // ends at Close
	stopListen   context.CancelFunc
	listenerDone chan struct{}
	live         chan struct{} // closed at the first subscription confirmation

	mu     sync.Mutex // guards subs and pubsub
	subs   map[*subscription]struct{}
	pubsub *redis.PubSub
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
	wait := time.NewTimer(r.liveWait())
	defer wait.Stop()
	select {
	case <-r.live:
		return r, nil
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	case <-wait.C:
		r.Close()
		return nil, fmt.Errorf("store: redis at %s: change subscription not confirmed within %v: %w",
			where, r.liveWait(), ErrUnavailable)
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
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		client:       c,
		ownsClient:   owns,
		prefix:       prefix,
		channel:      prefix + "changes",
		timeout:      timeout,
		listenCtx:    ctx,
		stopListen:   cancel,
		listenerDone: make(chan struct{}),
		live:         make(chan struct{}),
		subs:         make(map[*subscription]struct{}),
		pubsub:       c.Subscribe(ctx), // no channel yet: no I/O here
	}
	go r.listen(r.pubsub)
	return r
}

// clientOptions turns o into go-redis options, with o.Timeout on every
// network step so a dead or hung Redis fails calls instead of stalling them.
func (o RedisOptions) clientOptions() (*redis.UniversalOptions, error) {
	uo := &redis.UniversalOptions{MasterName: o.MasterName}
	if o.URL != "" {
		var err error
		if uo, err = parseRedisURL(o.URL, o.MasterName, len(o.Addrs) > 0); err != nil {
			return nil, err
		}
	}
	uo.Addrs = append(uo.Addrs, o.Addrs...)
	if len(uo.Addrs) == 0 {
		return nil, errors.New("store: redis: no URL or address given")
	}
	if o.TLS && uo.TLSConfig == nil {
		// No ServerName: crypto/tls takes each node's host from its address.
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	uo.DialTimeout = o.Timeout
	uo.ReadTimeout = o.Timeout
	uo.WriteTimeout = o.Timeout
	uo.PoolTimeout = o.Timeout
	uo.ContextTimeoutEnabled = true
	// One dial per attempt and one retry (for a pooled connection that died
	// with a restarted server): the per-call deadline bounds the rest.
	uo.DialerRetries = 1
	uo.MaxRetries = 1
	return uo, nil
}

// parseRedisURL reads a URL with go-redis's parser for its deployment.
// Errors never include the password.
func parseRedisURL(raw, masterName string, moreAddrs bool) (*redis.UniversalOptions, error) {
	u, err := url.Parse(hostListToAddrParams(raw))
	if err != nil {
		return nil, redisURLError(raw, err)
	}
	q := u.Query()
	if masterName != "" {
		q.Set("master_name", masterName)
		u.RawQuery = q.Encode()
	}
	uo := &redis.UniversalOptions{}
	switch {
	case q.Get("master_name") != "":
		fo, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, redisURLError(raw, err)
		}
		uo.Addrs, uo.MasterName, uo.DB = fo.SentinelAddrs, fo.MasterName, fo.DB
		uo.SentinelUsername, uo.SentinelPassword = fo.SentinelUsername, fo.SentinelPassword
		uo.Username, uo.Password = fo.Username, fo.Password
		if uo.Password == "" {
			// Sentinel and master usually share credentials.
			uo.Username, uo.Password = fo.SentinelUsername, fo.SentinelPassword
		}
		uo.TLSConfig, uo.ClientName, uo.Protocol, uo.PoolSize = perHostTLS(fo.TLSConfig), fo.ClientName, fo.Protocol, fo.PoolSize
	case q.Has("addr") || moreAddrs:
		co, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, redisURLError(raw, err)
		}
		uo.Addrs, uo.Username, uo.Password = co.Addrs, co.Username, co.Password
		uo.TLSConfig, uo.ClientName, uo.Protocol, uo.PoolSize = perHostTLS(co.TLSConfig), co.ClientName, co.Protocol, co.PoolSize
	default:
		so, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, redisURLError(raw, err)
		}
		uo.Addrs, uo.DB, uo.Username, uo.Password = []string{so.Addr}, so.DB, so.Username, so.Password
		uo.TLSConfig, uo.ClientName, uo.Protocol, uo.PoolSize = so.TLSConfig, so.ClientName, so.Protocol, so.PoolSize
		if so.Network == "unix" {
			// UniversalOptions has no network: dial the socket path ourselves.
			uo.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", addr)
			}
		}
	}
	return uo, nil
}

// perHostTLS drops the ServerName go-redis takes from the URL's first host,
// so that crypto/tls checks each node (or master) against its own address.
func perHostTLS(c *tls.Config) *tls.Config {
	if c != nil {
		c.ServerName = ""
	}
	return c
}

// hostListToAddrParams rewrites redis://u:p@h1,h2,h3/0?x as
// redis://u:p@h1/0?x&addr=h2&addr=h3, the form go-redis parses.
func hostListToAddrParams(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "unix" {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hosts := "", authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hosts = authority[:at+1], authority[at+1:]
	}
	first, others, ok := strings.Cut(hosts, ",")
	if !ok {
		return raw
	}
	path, query, _ := strings.Cut(tail, "?")
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := []string{}
	if query != "" {
		params = append(params, query)
	}
	for h := range strings.SplitSeq(others, ",") {
		if h != "" {
			params = append(params, "addr="+url.QueryEscape(h))
		}
	}
	out := scheme + "://" + userinfo + first + path + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// redisURLError reports a bad URL without its secrets: url.Parse errors
// quote the whole URL, so only their reason is kept.
func redisURLError(raw string, err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return fmt.Errorf("store: redis URL %s: %v", redactRedisURL(raw), err)
}

// redactRedisURL hides passwords (userinfo and the password parameters) in
// a Redis URL for messages.
func redactRedisURL(raw string) string {
	u, err := url.Parse(hostListToAddrParams(raw))
	if err != nil {
		// Keep only what cannot hold a secret: scheme, hosts and path.
		scheme, rest, ok := strings.Cut(raw, "://")
		if !ok {
			return "(unparsable)"
		}
		rest, _, _ = strings.Cut(rest, "?")
		rest, _, _ = strings.Cut(rest, "#")
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			rest = "xxxxx" + rest[at:]
		}
		return scheme + "://" + rest
	}
	q := u.Query()
	for _, name := range []string{"password", "sentinel_password"} {
		if q.Has(name) {
			q.Set(name, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// Keys.

// bucketEscaper makes a bucket name safe between the braces of its hash tag.
var bucketEscaper = strings.NewReplacer("%", "%25", "}", "%7D")

// bucketTag is PREFIX{BUCKET}, which starts every key of the bucket.
func (r *Redis) bucketTag(bucket string) string {
	return r.prefix + "{" + bucketEscaper.Replace(bucket) + "}"
}

// valueBase is what a value key starts with; the ID follows unescaped (the
// brace before it already ends the bucket).
func (r *Redis) valueBase(bucket string) string { return r.bucketTag(bucket) + ":" }

func (r *Redis) valueKey(k Key) string { return r.valueBase(k.Bucket) + k.ID }

func (r *Redis) indexKey(bucket string) string { return r.bucketTag(bucket) + "#ids" }

// Scripts. Each runs atomically; its keys share the bucket's hash slot. The
// value keys they build from ARGV (PREFIX{BUCKET}:ID) are in that slot too,
// which Redis Cluster accepts for keys a script does not declare.

// trimIndexLua drops sampled index entries whose value has expired, so an
// index of a bucket that is written but never listed (counters, one-time
// codes) stays near the number of live values instead of growing forever:
// when half of it is stale, each write removes one stale entry on average,
// as many as it may add.
const trimIndexLua = `
local function trim(index, base)
	for _, id in ipairs(redis.call('ZRANDMEMBER', index, 2)) do
		if redis.call('EXISTS', base .. id) == 0 then
			redis.call('ZREM', index, id)
		end
	end
end
`

// storeScript writes a value and indexes its ID; returns 1, or 0 when "nx"
// was asked and the key exists.
// KEYS: value, index. ARGV: value, TTL in ms ("0": none), "nx" or "", ID,
// value key base.
var storeScript = redis.NewScript(trimIndexLua + `
local set = {'SET', KEYS[1], ARGV[1]}
if ARGV[2] ~= '0' then
	set[#set + 1] = 'PX'
	set[#set + 1] = ARGV[2]
end
if ARGV[3] == 'nx' then
	set[#set + 1] = 'NX'
end
if not redis.call(unpack(set)) then
	return 0
end
redis.call('ZADD', KEYS[2], 0, ARGV[4])
trim(KEYS[2], ARGV[5])
return 1
`)

// incrScript adds to a counter, starting its window (and indexing it) when
// it is new; returns {count, PTTL}. An existing non-integer fails with an
// error starting "NOTCOUNTER".
// KEYS: counter, index. ARGV: delta, window in ms ("0": none), ID, value
// key base.
var incrScript = redis.NewScript(trimIndexLua + `
local new = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(n) == 'table' and n.err then
	return redis.error_reply('NOTCOUNTER ' .. n.err)
end
if new then
	if ARGV[2] ~= '0' then
		redis.call('PEXPIRE', KEYS[1], ARGV[2])
	end
	redis.call('ZADD', KEYS[2], 0, ARGV[3])
	trim(KEYS[2], ARGV[4])
end
return {n, redis.call('PTTL', KEYS[1])}
`)

// listScript pages through a bucket's index, returning {id, value, ...} of
// live values only and unindexing IDs whose value has expired; one script
// so a page is a consistent snapshot, as in Bolt.
// KEYS: index. ARGV: value key base, range start, range end, limit,
// "1" for descending.
var listScript = redis.NewScript(`
local out, found, from = {}, 0, ARGV[2]
local limit = tonumber(ARGV[4])
local cmd = 'ZRANGEBYLEX'
if ARGV[5] == '1' then
	cmd = 'ZREVRANGEBYLEX'
end
while found < limit do
	local want = limit - found
	local ids = redis.call(cmd, KEYS[1], from, ARGV[3], 'LIMIT', 0, want)
	for _, id in ipairs(ids) do
		local v = redis.call('GET', ARGV[1] .. id)
		if v then
			out[#out + 1] = id
			out[#out + 1] = v
			found = found + 1
		else
			redis.call('ZREM', KEYS[1], id)
		end
	end
	if #ids < want then
		break
	end
	from = '(' .. ids[#ids]
end
return out
`)

// casScript writes (or deletes) a value only if it is still what the
// caller read; returns 1, or 0 when it changed (Update then reads again).
// KEYS: value, index. ARGV: "1" if the caller saw a value ("0": absent),
// that value, "set" or "del", the new value, TTL in ms ("0": none), ID,
// value key base.
var casScript = redis.NewScript(trimIndexLua + `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
	if cur ~= ARGV[2] then
		return 0
	end
elseif cur then
	return 0
end
if ARGV[3] == 'del' then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', KEYS[2], ARGV[6])
	return 1
end
if ARGV[5] == '0' then
	redis.call('SET', KEYS[1], ARGV[4])
else
	redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
redis.call('ZADD', KEYS[2], 0, ARGV[6])
trim(KEYS[2], ARGV[7])
return 1
`)

// Operations.

// Get implements Backend.
func (r *Redis) Get(ctx context.Context, k Key) ([]byte, error) {
	if err := r.begin(ctx, k); err != nil {
		return nil, err
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	v, err := r.client.Get(cctx, r.valueKey(k)).Bytes()
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
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	n, err := storeScript.Run(cctx, r.client, r.storeKeys(k), r.storeArgv(k, value, ms, onlyIfAbsent)...).Int()
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
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	_, err := r.client.TxPipelined(cctx, func(p redis.Pipeliner) error {
		p.Del(cctx, r.valueKey(k))
		p.ZRem(cctx, r.indexKey(k.Bucket), k.ID)
		return nil
	})
	return r.classify(ctx, "delete", k.Bucket, err)
}

// Take implements Backend: GETDEL is atomic, so of concurrent callers (in
// any process) one gets the value.
func (r *Redis) Take(ctx context.Context, k Key) ([]byte, error) {
	if err := r.begin(ctx, k); err != nil {
		return nil, err
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	var get *redis.StringCmd
	_, err := r.client.TxPipelined(cctx, func(p redis.Pipeliner) error {
		get = p.GetDel(cctx, r.valueKey(k))
		p.ZRem(cctx, r.indexKey(k.Bucket), k.ID)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, r.classify(ctx, "take", k.Bucket, err)
	}
	v, err := get.Bytes()
	if err != nil {
		return nil, r.classify(ctx, "take", k.Bucket, err)
	}
	return nonNil(v), nil
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
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	old := guess
	if !guessed {
		var err error
		old, err = r.client.Get(cctx, r.valueKey(k)).Bytes()
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
	n, err := casScript.Run(cctx, r.client, r.storeKeys(k),
		had, expect, write, stored, ms, k.ID, r.valueBase(k.Bucket)).Int()
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
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	if delta == 0 {
		return r.readCounter(ctx, cctx, k)
	}
	res, err := incrScript.Run(cctx, r.client, r.storeKeys(k),
		delta, ms, k.ID, r.valueBase(k.Bucket)).Int64Slice()
	if err != nil {
		if redis.HasErrorPrefix(err, "NOTCOUNTER") {
			return 0, time.Time{}, fmt.Errorf("store: %s %q is not a counter (or would overflow)", k.Bucket, k.ID)
		}
		return 0, time.Time{}, r.classify(ctx, "incr", k.Bucket, err)
	}
	if len(res) != 2 {
		return 0, time.Time{}, fmt.Errorf("store: redis incr %q: unexpected reply %v: %w", k.Bucket, res, ErrUnavailable)
	}
	return res[0], resetsAt(time.Duration(res[1]) * time.Millisecond), nil
}

// readCounter is Incr by 0: it reads without creating the counter.
func (r *Redis) readCounter(ctx, cctx context.Context, k Key) (int64, time.Time, error) {
	key := r.valueKey(k)
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
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
	return n, resetsAt(pttl.Val()), nil
}

// List implements Backend.
func (r *Redis) List(ctx context.Context, bucket string, after string, limit int, reverse bool) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckBucket(bucket); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("store: list %q: limit must be positive, not %d", bucket, limit)
	}
	if r.closed.Load() {
		return nil, errRedisClosed
	}
	limit = min(limit, MaxListLimit)
	// Lexicographic ranges of a sorted set whose scores are all 0 compare
	// members byte-wise, the order List promises; "(x" excludes x.
	start, end, descending := "-", "+", "0"
	if reverse {
		start, end, descending = "+", "-", "1"
	}
	if after != "" {
		start = "(" + after
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	flat, err := listScript.Run(cctx, r.client, []string{r.indexKey(bucket)},
		r.valueBase(bucket), start, end, limit, descending).StringSlice()
	if err != nil {
		return nil, r.classify(ctx, "list", bucket, err)
	}
	var out []Entry
	for i := 0; i+1 < len(flat); i += 2 {
		out = append(out, Entry{ID: flat[i], Value: []byte(flat[i+1])})
	}
	return out, nil
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
		r.stopListen()
		r.mu.Lock()
		_ = r.pubsub.Close() // unblocks the listener's receive
		r.mu.Unlock()
		<-r.listenerDone
		r.mu.Lock()
		for s := range r.subs {
			s.stopAfter()
			close(s.ch)
		}
		r.subs = nil
		r.mu.Unlock()
		if r.ownsClient {
			if err := r.client.Close(); err != nil {
				r.closeErr = fmt.Errorf("store: redis close: %w: %w", err, ErrUnavailable)
			}
		}
	})
	return r.closeErr
}

// Change notifications.

// Publish implements Backend: every Redis subscribed to the same channel
// (in this process or another) delivers c to its subscribers.
func (r *Redis) Publish(ctx context.Context, c Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.closed.Load() {
		return errRedisClosed
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return err
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	return r.classify(ctx, "publish", "", r.client.Publish(cctx, r.channel, payload).Err())
}

// Subscribe implements Backend. All subscribers share one Redis
// subscription; a subscriber that falls behind gets a ChangeResync instead
// of its backlog, and so does every subscriber whenever that subscription
// is re-established.
func (r *Redis) Subscribe(ctx context.Context) <-chan Change {
	if ctx.Err() == nil {
		// Changes published after Subscribe returns must arrive, so wait
		// (bounded) for the shared subscription to be confirmed; if Redis
		// is down, the subscriber gets a ChangeResync once it is back.
		wait := time.NewTimer(r.liveWait())
		select {
		case <-r.live:
		case <-ctx.Done():
		case <-r.listenCtx.Done():
		case <-wait.C:
		}
		wait.Stop()
	}
	return addSubscriber(ctx, &r.mu, &r.subs, r.closed.Load, redisSubscriberBuffer)
}

// listen receives the change channel until Close, driving go-redis's PubSub
// directly to see what its Channel API hides: every (re)subscription, after
// which subscribers must resync, and silence, which it probes with PING.
func (r *Redis) listen(ps *redis.PubSub) {
	defer close(r.listenerDone)
	ctx := r.listenCtx
	_ = ps.Subscribe(ctx, r.channel) // on failure, the next receive redials and subscribes
	quiet := max(time.Second, 4*r.timeout)
	var pinged bool
	var backoff time.Duration
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, quiet)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			pinged, backoff = false, 0
			r.deliver(msg)
		case isTimeout(err) && !pinged:
			// Quiet for a while: make the server prove the connection lives.
			pctx, cancel := context.WithTimeout(ctx, r.timeout)
			_ = ps.Ping(pctx)
			cancel()
			pinged = true
		case isTimeout(err):
			// The PING went unanswered: the server or the path to it hangs.
			// go-redis keeps connections that merely time out, so start over
			// on a new one.
			if ps = r.renewPubSub(ps); ps == nil {
				return
			}
			pinged = false
		default:
			// The connection broke; the next receive redials. Back off so a
			// dead server is not hammered.
			backoff = min(max(2*backoff, 20*time.Millisecond), time.Second)
			if sleepContext(ctx, backoff) != nil {
				return
			}
		}
	}
}

// renewPubSub replaces ps with a new subscription, or returns nil after
// Close.
func (r *Redis) renewPubSub(ps *redis.PubSub) *redis.PubSub {
	_ = ps.Close()
	r.mu.Lock()
	if r.listenCtx.Err() != nil {
		r.mu.Unlock()
		return nil
	}
	ps = r.client.Subscribe(r.listenCtx) // no I/O under the lock
	r.pubsub = ps
	r.mu.Unlock()
	_ = ps.Subscribe(r.listenCtx, r.channel)
	return ps
}

// deliver handles one pub/sub message.
func (r *Redis) deliver(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind != "subscribe" {
			return
		}
		// Changes published while the subscription was down are lost.
		// (Subscribers present at the first confirmation gave up waiting for
		// it in Subscribe and may have missed some too.)
		r.fanOut(Change{Kind: ChangeResync})
		// Only now: a Subscribe waiting for this must not get that resync.
		select {
		case <-r.live:
		default:
			close(r.live)
		}
	case *redis.Message:
		var c Change
		if err := json.Unmarshal([]byte(m.Payload), &c); err != nil || c.Kind == "" {
			// Not understood (another version?): something changed.
			c = Change{Kind: ChangeResync}
		}
		r.fanOut(c)
	}
}

// fanOut sends c to every subscriber without waiting (see subscription.send;
// here r.mu plays Bolt.mu's part).
func (r *Redis) fanOut(c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		s.send(c)
	}
}

// Helpers.

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

// liveWait bounds the wait for the change subscription: more than one
// call's timeout, as it takes a few round trips (dial, TLS, HELLO,
// SUBSCRIBE) that no single call pays.
func (r *Redis) liveWait() time.Duration { return max(4*r.timeout, time.Second) }

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

// storeKeys are the KEYS of storeScript and incrScript.
func (r *Redis) storeKeys(k Key) []string {
	return []string{r.valueKey(k), r.indexKey(k.Bucket)}
}

// storeArgv is storeScript's ARGV.
func (r *Redis) storeArgv(k Key, value []byte, ttlMillis int64, onlyIfAbsent bool) []any {
	mode := ""
	if onlyIfAbsent {
		mode = "nx"
	}
	return []any{value, ttlMillis, mode, k.ID, r.valueBase(k.Bucket)}
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

// resetsAt turns a counter's remaining time to live into its window's end;
// none (PTTL -1) is the zero Time.
func resetsAt(pttl time.Duration) time.Time {
	if pttl <= 0 {
		return time.Time{}
	}
	return time.Now().Add(pttl)
}

// nonNil keeps a stored empty value distinguishable from an absent one.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
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
