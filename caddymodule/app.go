// Package caddymodule is caddy2fa's Caddy glue: the "twofactor" app (store
// and keys shared by every site), the http.handlers.twofactor handler, their
// Caddyfile forms, and metrics. Everything else lives in plain Go packages.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
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
	// are resolved at start. Default: a secret generated once and kept in
	// the store.
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

// keysKey is where generated keys are kept when none are configured.
var keysKey = store.Key{Bucket: "keys", ID: "cookie"}

func (a *App) loadKeys(ctx context.Context) error {
	text := caddy.NewReplacer().ReplaceAll(a.Keys, "")
	if text == "" {
		if a.Keys != "" {
			return errors.New("twofactor keys: the placeholder resolved to nothing (is the environment variable or file set?)")
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// Created once and shared through the store by every instance:
		// PutIfAbsent lets exactly one of several starting instances win.
		if _, err := a.backend.PutIfAbsent(ctx, keysKey, []byte(keyring.Generate()), 0); err != nil {
			return fmt.Errorf("twofactor keys: %w", err)
		}
		raw, err := a.backend.Get(ctx, keysKey)
		if err != nil {
			return fmt.Errorf("twofactor keys: %w", err)
		}
		text = string(raw)
	}
	ring, err := keyring.Parse(text)
	if err != nil {
		return fmt.Errorf("twofactor keys: %w", err)
	}
	a.ring = ring
	return nil
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
