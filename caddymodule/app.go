// Package caddymodule is caddy2fa's Caddy glue: the "twofactor" app (the
// store, keys, senders and realms every site shares), the
// http.handlers.twofactor handler, the guest modules for stores, senders
// and identity sources, their Caddyfile forms, the admin routes and
// metrics. Everything else lives in plain Go packages.
package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is the "twofactor" app: what every twofactor handler of the config
// shares. It opens the store and starts its background work (the setup
// email queue, following changes, importing users files) when Caddy
// starts it, never while a configuration is only validated.
type App struct {
	// Store says where state is kept: a twofactor.storage module named by
	// "backend", "file" (an embedded database; the default) or "redis"
	// (shared by several Caddy instances).
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=twofactor.storage inline_key=backend"`
	// Keys are the secrets for cookies and for TOTP seeds at rest: base64
	// or hex, at least 32 bytes each, separated by spaces or commas; the
	// first signs new values, all of them open old ones (rotation).
	// Placeholders such as {env.TWOFACTOR_KEYS} or {file./run/secrets/2fa}
	// are resolved at start. Required with the Redis store. Default with
	// the embedded store: a secret generated once and kept in a file beside
	// it (the store's path plus ".key", mode 0600), never in the store.
	Keys string `json:"keys,omitempty"`
	// Email delivers codes and notices by email: a twofactor.senders.email
	// module named by "via", "ses" (Amazon SES v2) or "outbox" (files, for
	// demos). Default: none; email is not offered.
	EmailRaw json.RawMessage `json:"email,omitempty" caddy:"namespace=twofactor.senders.email inline_key=via"`
	// SMS delivers codes by text message (a paid add-on): a
	// twofactor.senders.sms module named by "via", "sns" or "outbox".
	// Default: none; SMS is not offered.
	SMSRaw json.RawMessage `json:"sms,omitempty" caddy:"namespace=twofactor.senders.sms inline_key=via"`
	// Realms are the organisations' settings by realm name; sites name
	// their realm ("default" when they name none).
	Realms map[string]*RealmConfig `json:"realms,omitempty"`
	// Locales is a folder of message files (de.toml, extra.fr.toml) that
	// replace shipped messages key by key or add languages. Default: the
	// shipped languages only.
	Locales string `json:"locales,omitempty"`
	// MailQueue tunes the durable queue of setup emails and reminders.
	// Default: a 2m lease, 8 attempts, a 30s first backoff.
	MailQueue *MailQueue `json:"mail_queue,omitempty"`

	storage     Storage
	emailSender notify.EmailSender
	smsSender   notify.SMSSender
	logger      *zap.Logger
	slogger     *slog.Logger
	metrics     *metrics // nil in tests that build the app directly
	catalog     *locale.Catalog

	mu    sync.Mutex
	sites []*Handler

	// Set by Start.
	run     *running
	ready   chan struct{}
	cancel  context.CancelFunc
	workers sync.WaitGroup
	release func() error
}

// running is what the started app holds: the open store, the keys, and
// each realm's shared state.
type running struct {
	backend store.Backend
	ring    *keyring.Ring
	queue   *notify.Queue
	realms  map[string]*realmState
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor", New: func() caddy.Module { return new(App) }}
}

// Provision loads the store and sender modules; it opens nothing.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger, a.slogger = ctx.Logger(), ctx.Slogger()
	a.ready = make(chan struct{})
	var err error
	if a.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if a.StoreRaw, err = withDefaultKey(a.StoreRaw, "backend", "file"); err != nil {
		return fmt.Errorf("twofactor store: %w", err)
	}
	mod, err := ctx.LoadModule(a, "StoreRaw")
	if err != nil {
		return fmt.Errorf("twofactor store: %w", err)
	}
	var ok bool
	if a.storage, ok = mod.(Storage); !ok {
		return fmt.Errorf("twofactor store: module %T is not a twofactor store", mod)
	}
	if a.EmailRaw != nil {
		mod, err := ctx.LoadModule(a, "EmailRaw")
		if err != nil {
			return fmt.Errorf("twofactor email: %w", err)
		}
		if a.emailSender, ok = mod.(notify.EmailSender); !ok {
			return fmt.Errorf("twofactor email: module %T sends no email", mod)
		}
	}
	if a.catalog, err = loadCatalog(a.Locales); err != nil {
		return err
	}
	if a.SMSRaw != nil {
		mod, err := ctx.LoadModule(a, "SMSRaw")
		if err != nil {
			return fmt.Errorf("twofactor sms: %w", err)
		}
		if a.smsSender, ok = mod.(notify.SMSSender); !ok {
			return fmt.Errorf("twofactor sms: module %T sends no texts", mod)
		}
	}
	return nil
}

// Validate checks what can be checked without opening anything.
func (a *App) Validate() error {
	if a.Keys == "" && a.storage.KeyFile() == "" {
		return errRedisNeedsKeys
	}
	if text := caddy.NewReplacer().ReplaceAll(a.Keys, ""); text != "" {
		if _, err := keyring.Parse(text); err != nil {
			return fmt.Errorf("twofactor keys: %w", err)
		}
	}
	if err := a.MailQueue.validate(); err != nil {
		return err
	}
	for name, r := range a.Realms {
		if err := r.validate(name, a.availability()); err != nil {
			return err
		}
		if err := a.checkLanguage(name, r); err != nil {
			return err
		}
	}
	return nil
}

// Start opens the store, loads the keys, and starts each realm and site.
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	b, release, err := a.storage.OpenStore(ctx)
	if err != nil {
		cancel()
		return err
	}
	ring, err := a.loadKeys(ctx, b, a.storage.KeyFile())
	if err != nil {
		cancel()
		release()
		return err
	}
	a.cancel, a.release = cancel, release
	if err := a.start(ctx, b, ring); err != nil {
		a.Stop()
		return err
	}
	return nil
}

// start runs the app on an open store and keys (tests start it here).
func (a *App) start(ctx context.Context, b store.Backend, ring *keyring.Ring) error {
	if a.metrics != nil {
		b = store.Observed(b, a.metrics.storeOp)
	}
	run := &running{backend: b, ring: ring, realms: map[string]*realmState{}}
	if a.emailSender != nil {
		// The setup emails: a durable queue in the store, one worker per
		// instance.
		rate := 0.0
		if r, ok := a.emailSender.(sendRater); ok {
			rate = r.SendRate()
		}
		opts := a.MailQueue.options()
		opts.Rate, opts.Logger = rate, a.slogger
		run.queue = notify.NewQueue(b, a.emailSender, opts)
		a.goWork(func() { run.queue.Run(ctx) })
	}
	a.mu.Lock()
	sites := a.sites
	realms := a.Realms
	a.mu.Unlock()
	for name, cfg := range realms {
		rs, err := newRealmState(name, cfg, a, run)
		if err != nil {
			return err
		}
		run.realms[name] = rs
		a.goWork(rs.gate.Watch(ctx))
	}
	for _, h := range sites {
		if err := h.start(run.realms[realmOr(h.Realm)], run); err != nil {
			return err
		}
		if h.UsersFile != "" {
			a.goWork(func() { h.watchUsersFile(ctx, run.backend, 0) })
		}
	}
	if a.metrics != nil {
		a.goWork(func() { a.countGauges(ctx, run) })
	}
	if run.queue != nil {
		a.goWork(func() { a.sendReminders(ctx, run) })
	}
	a.run = run
	close(a.ready)
	latest.Store(a)
	return nil
}

func (a *App) goWork(fn func()) {
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		fn()
	}()
}

// Stop ends the background work and gives the store back.
func (a *App) Stop() error {
	latest.CompareAndSwap(a, nil)
	if a.cancel != nil {
		a.cancel()
		a.workers.Wait()
		a.cancel = nil
	}
	if a.release != nil {
		err := a.release()
		a.release = nil
		return err
	}
	return nil
}

// Cleanup releases what a partly started app still holds.
func (a *App) Cleanup() error { return a.Stop() }

// availability is what the app's senders can deliver.
func (a *App) availability() policy.Availability {
	// Passkeys are checked site by site (each needs its site_url).
	return policy.Availability{Email: a.emailSender != nil, SMS: a.smsSender != nil, WebAuthn: true}
}

// started waits for the app to start, up to ctx; nil when it did not.
func (a *App) started(ctx context.Context) *running {
	select {
	case <-a.ready:
		return a.run
	case <-ctx.Done():
		return nil
	}
}

// withDefaultKey names the module of a guest's JSON that names none (an
// empty store block means the embedded database).
func withDefaultKey(raw json.RawMessage, key, name string) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
	}
	if _, ok := m[key]; ok {
		return raw, nil
	}
	m[key] = json.RawMessage(`"` + name + `"`)
	return json.Marshal(m)
}

// latest is the app most recently started: the admin routes, which Caddy
// builds before the apps of a config, find it here when the config has no
// twofactor block of its own.
var latest atomic.Pointer[App]

var errNotStarted = errors.New("twofactor app is not running")

var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
