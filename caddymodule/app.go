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

	backend  store.Backend
	storeKey string
	ring     *keyring.Ring
	logger   *zap.Logger
}

// StoreConfig selects the state store.
type StoreConfig struct {
	// Backend is "file" (embedded bbolt database; the default).
	Backend string `json:"backend,omitempty"`
	// Path of the database file for the file backend.
	Path string `json:"path,omitempty"`
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
	default:
		return fmt.Errorf("twofactor store: unknown backend %q (use file)", a.Store.Backend)
	}
	return a.loadKeys(ctx)
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
		// Created once and shared through the store by every instance.
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
