package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
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
	// WaitReplicas, when positive, makes every write of a record that a
	// failover must not lose (see MustSurviveFailover) return only once
	// that many replicas have it: Redis replicates asynchronously, so a
	// promoted replica lacks what the old master had not yet sent. Fewer
	// acknowledgements within WaitTimeout fail the write with
	// ErrUnavailable (it may or may not survive). Default 0: nothing waits.
	WaitReplicas int
	// WaitTimeout bounds that wait, on top of Timeout. Default: Timeout.
	WaitTimeout time.Duration
	// WaitFor picks the buckets whose writes wait, when WaitReplicas is
	// set. Default MustSurviveFailover.
	WaitFor func(bucket string) bool
}

// withDefaults fills in the defaults and rejects what cannot work.
func (o RedisOptions) withDefaults() (RedisOptions, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaultRedisTimeout
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = defaultRedisPrefix
	}
	if o.WaitReplicas < 0 || o.WaitTimeout < 0 {
		return o, fmt.Errorf("store: redis: negative wait for replicas (%d, %v)", o.WaitReplicas, o.WaitTimeout)
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = o.Timeout
	}
	if o.WaitFor == nil {
		o.WaitFor = MustSurviveFailover
	}
	// WAIT takes milliseconds, and 0 would block forever: round up.
	ms, err := millis(o.WaitTimeout, "wait timeout")
	o.WaitTimeout = time.Duration(ms) * time.Millisecond
	return o, err
}

// failoverSafeBuckets name, by accounts' and policy's key layouts, the
// records whose loss in a failover would undo an enrollment, let a spent
// code, TOTP step or passkey challenge be used again, or bring back a
// revoked device or an earlier policy. A trailing "/" takes every realm's.
// Counters, flows and caches are not: losing their last milliseconds of
// writes gives back a few attempts or restarts a sign-in, and waiting on
// them would slow every request that counts.
var failoverSafeBuckets = []string{"users/", "devices/", "codes/", "ceremonies/", "proposals/", "policy"}

// MustSurviveFailover reports whether writes to bucket wait for replicas
// when RedisOptions.WaitReplicas is set.
func MustSurviveFailover(bucket string) bool {
	for _, b := range failoverSafeBuckets {
		if bucket == b || strings.HasSuffix(b, "/") && strings.HasPrefix(bucket, b) {
			return true
		}
	}
	return false
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
	if o.WaitReplicas > 0 {
		// A pipeline's replies are read under this timeout, a WAIT's too.
		uo.ReadTimeout += o.WaitTimeout
	}
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
