// Package caddymodule is caddy2fa's Caddy glue: the "twofactor" app (store
// and keys shared by every site), the http.handlers.twofactor handler, their
// Caddyfile forms, and metrics. Everything else lives in plain Go packages.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/store"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is the "twofactor" app: the state store and the keys that every
// twofactor handler of the config shares.
type App struct {
	// Store says where state is kept. Default: an embedded database file
	// in Caddy's data directory.
	Store *StoreConfig `json:"store,omitempty"`
	// Keys are the secrets for cookies and for TOTP seeds at rest: base64
	// or hex, at least 32 bytes each, separated by spaces or commas; the
	// first signs new values, all of them open old ones (rotation).
	// Placeholders such as {env.TWOFACTOR_KEYS} or {file./run/secrets/2fa}
	// are resolved at start. Required with the Redis store. Default with
	// the embedded store: a secret generated once and kept in a file beside
	// it (the store's path plus ".key", mode 0600), never in the store.
	Keys string `json:"keys,omitempty"`

	// Email delivers codes and notices by email: Amazon SES v2, or a file
	// outbox for demos and development.
	Email *EmailConfig `json:"email,omitempty"`
	// SMS delivers codes by text message (a paid add-on): Amazon SNS, or
	// a file outbox. Without it, SMS is not offered.
	SMS *SMSConfig `json:"sms,omitempty"`

	emailSender notify.EmailSender
	smsSender   notify.SMSSender
	queue       *notify.Queue
	backend     store.Backend
	storeKey    string
	keyFile     string // where a generated key is kept (embedded store only)
	ring        *keyring.Ring
	logger      *zap.Logger
}

// StoreConfig selects the state store.
type StoreConfig struct {
	// Backend is "file" (embedded bbolt database; the default) or "redis"
	// (shared by several Caddy instances).
	Backend string `json:"backend,omitempty"`
	// Path of the database file for the file backend.
	Path string `json:"path,omitempty"`
	// URL of Redis: redis://[:password@]host:port/db, rediss:// for TLS,
	// several hosts with ?master_name=NAME for Sentinel. Placeholders such
	// as {env.REDIS_PASSWORD} are resolved at start.
	URL string `json:"url,omitempty"`
	// Addrs are Redis Cluster nodes (or more Sentinels).
	Addrs []string `json:"addrs,omitempty"`
	// MasterName is the Sentinel master's name.
	MasterName string `json:"master_name,omitempty"`
	// KeyPrefix starts every Redis key. Default "2fa:".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// TLS turns on TLS to Redis.
	TLS bool `json:"tls,omitempty"`
	// Timeout bounds each Redis operation. Default 250ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// EmailConfig selects the email sender.
type EmailConfig struct {
	// Via is "ses" or "outbox".
	Via string `json:"via"`
	// Region, From, ConfigurationSet and Endpoint configure SES; Endpoint
	// points at an SES-compatible service instead of AWS.
	Region           string `json:"region,omitempty"`
	From             string `json:"from,omitempty"`
	ConfigurationSet string `json:"configuration_set,omitempty"`
	Endpoint         string `json:"endpoint,omitempty"`
	// Rate caps messages per second (SES account rate). Default 14.
	Rate float64 `json:"rate,omitempty"`
	// Dir is the outbox folder.
	Dir string `json:"dir,omitempty"`
}

// SMSConfig selects the SMS sender.
type SMSConfig struct {
	// Via is "sns" or "outbox".
	Via      string `json:"via"`
	Region   string `json:"region,omitempty"`
	SenderID string `json:"sender_id,omitempty"`
	MaxPrice string `json:"max_price,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Dir      string `json:"dir,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor", New: func() caddy.Module { return new(App) }}
}

// stores keeps one open store per file across config reloads: a reload
// provisions the new config before the old one is cleaned up, and bbolt
// allows one opener per file.
var stores = caddy.NewUsagePool()

type pooledStore struct{ store.Backend }

func (p pooledStore) Destruct() error { return p.Backend.Close() }

// Provision opens the store and loads the keys.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.Store == nil {
		a.Store = &StoreConfig{}
	}
	if a.Store.Backend == "" {
		a.Store.Backend = "file"
	}
	switch a.Store.Backend {
	case "file":
		path := a.Store.Path
		if path == "" {
			path = filepath.Join(caddy.AppDataDir(), "twofactor", "2fa.db")
		}
		path = caddy.NewReplacer().ReplaceAll(path, "")
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		a.storeKey = "file:" + abs
		a.keyFile = abs + ".key"
		v, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
			b, err := store.OpenBolt(abs, store.BoltOptions{})
			if err != nil {
				return nil, err
			}
			return pooledStore{b}, nil
		})
		if err != nil {
			a.storeKey = ""
			return fmt.Errorf("twofactor store: %w", err)
		}
		a.backend = v.(pooledStore).Backend
	case "redis":
		repl := caddy.NewReplacer()
		opts := store.RedisOptions{
			URL: repl.ReplaceAll(a.Store.URL, ""), MasterName: a.Store.MasterName, KeyPrefix: a.Store.KeyPrefix,
			TLS: a.Store.TLS, Timeout: time.Duration(a.Store.Timeout),
		}
		for _, addr := range a.Store.Addrs {
			opts.Addrs = append(opts.Addrs, repl.ReplaceAll(addr, ""))
		}
		// One client per process and Redis, kept across reloads; the key
		// holds the resolved URL only in memory.
		a.storeKey = fmt.Sprintf("redis:%s|%v|%s|%s|%t|%v", opts.URL, opts.Addrs, opts.MasterName, opts.KeyPrefix, opts.TLS, opts.Timeout)
		v, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
			octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := store.OpenRedis(octx, opts)
			if err != nil {
				return nil, err
			}
			return pooledStore{r}, nil
		})
		if err != nil {
			a.storeKey = ""
			return fmt.Errorf("twofactor store: %w", err)
		}
		a.backend = v.(pooledStore).Backend
	default:
		return fmt.Errorf("twofactor store: unknown backend %q (use file or redis)", a.Store.Backend)
	}
	if err := a.loadKeys(ctx); err != nil {
		return err
	}
	if err := a.provisionSenders(ctx); err != nil {
		return err
	}
	if a.emailSender != nil {
		// The setup emails: a durable queue in the store, one worker per
		// instance, stopped when this config is unloaded.
		rate := 0.0
		if a.Email != nil {
			rate = a.Email.Rate
		}
		a.queue = notify.NewQueue(a.backend, a.emailSender, notify.QueueOptions{Rate: rate, Logger: ctx.Slogger()})
		go a.queue.Run(ctx)
	}
	return nil
}

func (a *App) provisionSenders(ctx context.Context) error {
	repl := caddy.NewReplacer()
	if e := a.Email; e != nil {
		switch e.Via {
		case "ses":
			ses, err := notify.NewSES(ctx, notify.SESConfig{
				Region: repl.ReplaceAll(e.Region, ""), From: repl.ReplaceAll(e.From, ""),
				ConfigurationSet: e.ConfigurationSet, Endpoint: repl.ReplaceAll(e.Endpoint, ""), Rate: e.Rate,
			})
			if err != nil {
				return fmt.Errorf("twofactor email ses: %w", err)
			}
			a.emailSender = ses
		case "outbox":
			box, err := notify.NewOutbox(repl.ReplaceAll(e.Dir, ""))
			if err != nil {
				return fmt.Errorf("twofactor email outbox: %w", err)
			}
			a.emailSender = box
		default:
			return fmt.Errorf("twofactor email: unknown sender %q (use ses or outbox)", e.Via)
		}
	}
	if m := a.SMS; m != nil {
		switch m.Via {
		case "sns":
			sns, err := notify.NewSNS(ctx, notify.SNSConfig{
				Region: repl.ReplaceAll(m.Region, ""), SenderID: m.SenderID, MaxPrice: m.MaxPrice, Endpoint: repl.ReplaceAll(m.Endpoint, ""),
			})
			if err != nil {
				return fmt.Errorf("twofactor sms sns: %w", err)
			}
			a.smsSender = sns
		case "outbox":
			box, err := notify.NewOutbox(repl.ReplaceAll(m.Dir, ""))
			if err != nil {
				return fmt.Errorf("twofactor sms outbox: %w", err)
			}
			a.smsSender = box
		default:
			return fmt.Errorf("twofactor sms: unknown sender %q (use sns or outbox)", m.Via)
		}
	}
	return nil
}

// legacyKeysKey is where an earlier version kept a generated key, in the
// store: anyone who could read the store could forge every session and
// unseal every TOTP seed with it.
var legacyKeysKey = store.Key{Bucket: "keys", ID: "cookie"}

// errRedisNeedsKeys explains the way forward without ever showing a key.
var errRedisNeedsKeys = errors.New("twofactor keys: store redis needs keys, the same on every instance: " +
	"generate one with `head -c 32 /dev/urandom | base64` and set `keys {env.TWOFACTOR_KEYS}`; " +
	"a key generated by an earlier version is in Redis under <key_prefix>keys/cookie: make it the first key " +
	"(to keep enrollments and sessions), then delete it from Redis")

func (a *App) loadKeys(ctx context.Context) error {
	text := caddy.NewReplacer().ReplaceAll(a.Keys, "")
	switch {
	case text != "":
	case a.Keys != "":
		return errors.New("twofactor keys: the placeholder resolved to nothing (is the environment variable or file set?)")
	case a.keyFile == "":
		return errRedisNeedsKeys
	default:
		var err error
		if text, err = a.generatedKey(ctx); err != nil {
			return fmt.Errorf("twofactor keys: %w", err)
		}
	}
	ring, err := keyring.Parse(text)
	if err != nil {
		return fmt.Errorf("twofactor keys: %w", err)
	}
	a.ring = ring
	return nil
}

// generatedKey is the key of a one-node install without keys: a file
// beside the embedded store, readable by Caddy's user only. A key an
// earlier version kept in the store moves there (so enrollments still
// open) and leaves the store.
func (a *App) generatedKey(ctx context.Context) (string, error) {
	if raw, err := os.ReadFile(a.keyFile); err == nil {
		if fi, err := os.Stat(a.keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			a.logger.Warn("the generated key file can be read by others than Caddy's user; chmod 600 it", zap.String("path", a.keyFile))
		}
		return string(raw), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := keyring.Generate()
	legacy, err := a.backend.Get(ctx, legacyKeysKey)
	switch {
	case err == nil:
		key = string(legacy)
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	f, err := os.OpenFile(a.keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(key); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if legacy != nil {
		if err := a.backend.Delete(ctx, legacyKeysKey); err != nil {
			return "", err
		}
		a.logger.Info("moved the generated key out of the store into its own file", zap.String("path", a.keyFile))
	}
	return key, nil
}

// Start implements caddy.App.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the store; it tolerates a
// partly provisioned app.
func (a *App) Cleanup() error {
	if a.storeKey == "" {
		return nil
	}
	_, err := stores.Delete(a.storeKey)
	a.storeKey = ""
	return err
}

var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
