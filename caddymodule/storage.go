package caddymodule

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/store"
)

func init() {
	caddy.RegisterModule(new(FileStorage))
	caddy.RegisterModule(new(RedisStorage))
}

// Storage is a twofactor.storage.* module: where the gateway keeps its
// state. The app opens it when it starts (never while a configuration is
// only checked) and releases it when it stops.
type Storage interface {
	// OpenStore opens the store, or shares one already open for the same
	// place; release gives this configuration's hold on it back.
	OpenStore(ctx context.Context) (b store.Backend, release func() error, err error)
	// KeyFile is where a generated key is kept beside the store; "" when
	// keys must be configured (a store several instances share).
	KeyFile() string
}

// stores keeps one open store per place across config reloads: a reload
// starts the new config before the old one stops, and bbolt allows one
// opener per file.
var stores = caddy.NewUsagePool()

type pooledStore struct{ store.Backend }

func (p pooledStore) Destruct() error { return p.Backend.Close() }

// openPooled opens the store under key once per process.
func openPooled(key string, open func() (store.Backend, error)) (store.Backend, func() error, error) {
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := open()
		if err != nil {
			return nil, err
		}
		return pooledStore{b}, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("twofactor store: %w", err)
	}
	release := func() error {
		_, err := stores.Delete(key)
		return err
	}
	return v.(pooledStore).Backend, release, nil
}

// FileStorage is twofactor.storage.file: an embedded database file, the
// default for one Caddy instance.
type FileStorage struct {
	// Path of the database file; placeholders such as {env.X} are
	// resolved. Default: twofactor/2fa.db in Caddy's data directory.
	Path string `json:"path,omitempty"`

	abs string
}

// CaddyModule returns the Caddy module information.
func (*FileStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.storage.file", New: func() caddy.Module { return new(FileStorage) }}
}

// Provision resolves the path; it opens nothing.
func (f *FileStorage) Provision(caddy.Context) error {
	path := f.Path
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "twofactor", "2fa.db")
	}
	abs, err := filepath.Abs(caddy.NewReplacer().ReplaceAll(path, ""))
	if err != nil {
		return err
	}
	f.abs = abs
	return nil
}

// OpenStore implements Storage.
func (f *FileStorage) OpenStore(context.Context) (store.Backend, func() error, error) {
	return openPooled("file:"+f.abs, func() (store.Backend, error) {
		b, err := store.OpenBolt(f.abs, store.BoltOptions{})
		if err != nil {
			return nil, err
		}
		return b, nil
	})
}

// KeyFile implements Storage: the database's path plus ".key", mode 0600.
func (f *FileStorage) KeyFile() string { return f.abs + ".key" }

// UnmarshalCaddyfile reads "file <path>".
func (f *FileStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // file
	if !d.AllArgs(&f.Path) {
		return d.ArgErr()
	}
	return nil
}

// RedisStorage is twofactor.storage.redis: Redis (standalone, Sentinel or
// Cluster), for several Caddy instances serving the same users.
type RedisStorage struct {
	// URL of Redis: redis://[:password@]host:port/db, rediss:// for TLS,
	// several hosts with ?master_name=NAME for Sentinel. Placeholders such
	// as {env.REDIS_PASSWORD} are resolved at start. Required unless
	// Addrs are given.
	URL string `json:"url,omitempty"`
	// Addrs are Redis Cluster nodes (or more Sentinels). Default: none.
	Addrs []string `json:"addrs,omitempty"`
	// MasterName is the Sentinel master's name. Default: none (no
	// Sentinel).
	MasterName string `json:"master_name,omitempty"`
	// KeyPrefix starts every Redis key. Default "2fa:".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// TLS turns on TLS to Redis. Default off (rediss:// URLs turn it on).
	TLS bool `json:"tls,omitempty"`
	// Timeout bounds each Redis operation. Default 250ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// WaitReplicas, when positive, makes each write of a record a failover
	// must not lose (users and their enrollments and TOTP steps, trusted
	// devices, sent codes, passkey challenges, the policy and its
	// proposals) wait until that many replicas have it; if fewer do within
	// wait_timeout, the request fails closed with a 503. Default 0: writes
	// do not wait, and a failover may lose the last ones.
	WaitReplicas int `json:"wait_replicas,omitempty"`
	// WaitTimeout bounds that wait, on top of timeout. Default: timeout.
	WaitTimeout caddy.Duration `json:"wait_timeout,omitempty"`

	opts store.RedisOptions
}

// CaddyModule returns the Caddy module information.
func (*RedisStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.storage.redis", New: func() caddy.Module { return new(RedisStorage) }}
}

// Provision resolves the placeholders; it connects to nothing.
func (s *RedisStorage) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	s.opts = store.RedisOptions{
		URL: repl.ReplaceAll(s.URL, ""), MasterName: s.MasterName, KeyPrefix: s.KeyPrefix,
		TLS: s.TLS, Timeout: time.Duration(s.Timeout),
		WaitReplicas: s.WaitReplicas, WaitTimeout: time.Duration(s.WaitTimeout),
	}
	for _, addr := range s.Addrs {
		s.opts.Addrs = append(s.opts.Addrs, repl.ReplaceAll(addr, ""))
	}
	return nil
}

// Validate implements caddy.Validator.
func (s *RedisStorage) Validate() error {
	if s.URL == "" && len(s.Addrs) == 0 {
		return fmt.Errorf("store redis needs a URL (redis://host:6379/0) or addrs")
	}
	if s.WaitReplicas < 0 || s.WaitTimeout < 0 {
		return fmt.Errorf("store redis: wait_replicas and wait_timeout cannot be negative")
	}
	if s.WaitTimeout > 0 && s.WaitReplicas == 0 {
		return fmt.Errorf("store redis: wait_timeout without wait_replicas waits for nothing")
	}
	return nil
}

// OpenStore implements Storage: one client per process and Redis, kept
// across reloads; the pool's key holds the resolved URL only in memory.
func (s *RedisStorage) OpenStore(ctx context.Context) (store.Backend, func() error, error) {
	o := s.opts
	key := fmt.Sprintf("redis:%s|%v|%s|%s|%t|%v|%d|%v", o.URL, o.Addrs, o.MasterName, o.KeyPrefix, o.TLS, o.Timeout, o.WaitReplicas, o.WaitTimeout)
	return openPooled(key, func() (store.Backend, error) {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r, err := store.OpenRedis(octx, o)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
}

// KeyFile implements Storage: several instances share Redis, so keys must
// be configured, the same on each.
func (s *RedisStorage) KeyFile() string { return "" }

// UnmarshalCaddyfile reads "redis [<url>] { ... }".
func (s *RedisStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // redis
	if d.NextArg() {
		s.URL = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "key_prefix":
			if !d.AllArgs(&s.KeyPrefix) {
				return d.ArgErr()
			}
		case "addrs":
			s.Addrs = append(s.Addrs, d.RemainingArgs()...)
			if len(s.Addrs) == 0 {
				return d.ArgErr()
			}
		case "master_name":
			if !d.AllArgs(&s.MasterName) {
				return d.ArgErr()
			}
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.TLS = true
		case "timeout":
			t, err := durationArg(d)
			if err != nil {
				return err
			}
			s.Timeout = t
		case "wait_replicas":
			if err := countArg(d, &s.WaitReplicas); err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "wait_timeout":
			t, err := durationArg(d)
			if err != nil {
				return err
			}
			s.WaitTimeout = t
		default:
			return d.Errf("unrecognized store redis option %q", d.Val())
		}
	}
	if s.URL == "" && len(s.Addrs) == 0 {
		return d.Err("store redis needs a URL (redis://host:6379/0) or addrs")
	}
	if s.WaitTimeout != 0 && s.WaitReplicas == 0 {
		return d.Err("store redis: wait_timeout without wait_replicas waits for nothing")
	}
	return nil
}

var (
	_ Storage               = (*FileStorage)(nil)
	_ Storage               = (*RedisStorage)(nil)
	_ caddy.Provisioner     = (*FileStorage)(nil)
	_ caddy.Provisioner     = (*RedisStorage)(nil)
	_ caddy.Validator       = (*RedisStorage)(nil)
	_ caddyfile.Unmarshaler = (*FileStorage)(nil)
	_ caddyfile.Unmarshaler = (*RedisStorage)(nil)
)
