// Package challenge is the user's side of two-factor authentication: the
// pages under the path prefix where users enroll (at their first login),
// verify, pick their methods and manage their trusted devices, and where
// the gate sends a user who has not passed for this app session.
//
// It is built of small parts, each with only what it needs: flows (the
// open challenge), sessions (the verified-session cookie), the code check,
// and one type per group of pages.
package challenge

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Config is one site's challenge pages. Zero values take the defaults
// noted.
type Config struct {
	// Realm names the organisation whose users and policy this site shares.
	Realm string // default "default"
	// PathPrefix is where our pages live.
	PathPrefix string // default "/.2fa"
	// Issuer names the organisation in authenticator apps and emails.
	Issuer string // default "caddy2fa"
	// SessionLifetime bounds a verified session even while the app session
	// lasts (and is the only bound when no app session is visible).
	SessionLifetime time.Duration // default 12h
	// FlowLifetime is how long a started challenge stays open.
	FlowLifetime time.Duration // default 15m
	// FreshFor is how recent a code must be for sensitive changes (a new
	// method or phone, removing devices, the admin pages).
	FreshFor time.Duration // default 10m
	// SMSCountries lists the country calling codes SMS may go to; empty
	// allows all.
	SMSCountries []int
	// PhoneRegion is the region assumed for numbers typed without a
	// country code ("US", "GB"); empty requires the + form.
	PhoneRegion string
	// ClientIP returns the request's client address (Caddy's client_ip).
	ClientIP func(*http.Request) string
	// Logger receives operator events; never codes, secrets or cookies.
	Logger *slog.Logger
	// OnEvent is told of each notable event (for metrics).
	OnEvent func(name string)
	// OnUserChanged is told when the pages change a user's sessions (a new
	// method, a new session), so the gate's caches follow at once; the
	// store's change notification follows anyway.
	OnUserChanged func(user string)
	// Now is the clock (tests set it).
	Now func() time.Time
}

// DefaultFreshFor is how recent a code must be for a sensitive change.
const DefaultFreshFor = 10 * time.Minute

func (c *Config) setDefaults() {
	if c.Realm == "" {
		c.Realm = "default"
	}
	if c.PathPrefix == "" {
		c.PathPrefix = "/.2fa"
	}
	c.PathPrefix = "/" + strings.Trim(c.PathPrefix, "/")
	if c.Issuer == "" {
		c.Issuer = "caddy2fa"
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 12 * time.Hour
	}
	if c.FlowLifetime <= 0 {
		c.FlowLifetime = 15 * time.Minute
	}
	if c.FreshFor <= 0 {
		c.FreshFor = DefaultFreshFor
	}
	if c.ClientIP == nil {
		c.ClientIP = identity.PeerIP
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OnEvent == nil {
		c.OnEvent = func(string) {}
	}
	if c.OnUserChanged == nil {
		c.OnUserChanged = func(string) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	p := "/" + strings.Trim(c.PathPrefix, "/")
	if p == "/" || strings.ContainsAny(p, "?#%*{} \\") || strings.Contains(p, "..") {
		return fmt.Errorf("path_prefix %q must be a plain path such as /.2fa", c.PathPrefix)
	}
	if c.FreshFor > 0 && (c.FreshFor < time.Minute || c.SessionLifetime > 0 && c.FreshFor > c.SessionLifetime) {
		return errors.New("fresh_for must be at least 1m and at most the session lifetime")
	}
	return nil
}

// Parts are what the pages work with, shared with the rest of the site.
type Parts struct {
	Store  store.Backend
	Keys   *keyring.Ring
	Policy *policy.Snapshot // of Config.Realm
	Site   *pages.Site
	// Checker checks every code; Codes sends them by email and SMS.
	Checker *verify.Checker
	Codes   *sentcode.Sender
	// Notices tell users by email of changes to their account.
	Notices *Notices
	// Passkeys is the site's relying party; nil: the site has no
	// site_url, so passkeys are not offered here.
	Passkeys *passkey.RP
	// Rollout gives users time to set up when the policy allows; nil:
	// setup is always required at once.
	Rollout *rollout.Plan
}

// Pages are one site's challenge pages.
type Pages struct {
	cfg      Config
	web      *web
	flows    *flows
	sessions *sessions
	stepUp   *stepUp
	entry    *entryPages
	totp     *totpPages
	sent     *sentPages
	recovery *recoveryPages
	passkeys *passkeyPages
	methods  *methodsPage
	devices  *devicePages
	unlock   *unlockPage
	later    *setupLater
}

// New builds a site's pages.
func New(cfg Config, p Parts) (*Pages, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Store == nil || p.Keys == nil || p.Policy == nil || p.Site == nil || p.Checker == nil || p.Codes == nil || p.Notices == nil {
		return nil, errors.New("challenge: store, keys, policy, site, checker, codes and notices are required")
	}
	if p.Policy.Realm() != cfg.Realm {
		return nil, fmt.Errorf("challenge: the policy snapshot follows realm %q, not %q", p.Policy.Realm(), cfg.Realm)
	}
	tpl, err := p.Site.Templates(templateFiles, false)
	if err != nil {
		return nil, err
	}
	return assemble(cfg, p, tpl), nil
}

// Register routes the pages on mux, under the prefix.
func (p *Pages) Register(mux *http.ServeMux) {
	pre := p.cfg.PathPrefix
	page := func(path string, h pages.HandlerFunc) {
		handler := p.web.handle(h)
		mux.Handle("GET "+pre+path, handler)
		mux.Handle("POST "+pre+path, handler)
	}
	page("/{$}", p.entry.entry)
	page("/enroll", p.entry.enrollChoice)
	page("/verify", p.entry.verifyChoice)
	page("/enroll/totp", p.totp.enroll)
	page("/verify/totp", p.totp.verify)
	for _, m := range []string{policy.MethodEmail, policy.MethodSMS} {
		page("/enroll/"+m, p.sent.page(m, true))
		page("/verify/"+m, p.sent.page(m, false))
	}
	page("/enroll/webauthn", p.passkeys.enroll)
	page("/verify/webauthn", p.passkeys.verify)
	page("/passkeys/remove", p.passkeys.remove)
	page("/verify/recovery", p.recovery.verify)
	page("/recovery-codes", p.recovery.show)
	page("/recovery-codes/new", p.recovery.regenerate)
	page("/recovery-codes/used", p.recovery.used)
	page("/methods", p.methods.serve)
	page("/devices", p.devices.serve)
	page("/unlock", p.unlock.serve)
	page("/language", p.web.site.ChooseLanguage)
	page("/setup-later", p.later.serve)
	mux.HandleFunc("GET "+pre+"/static/", func(w http.ResponseWriter, r *http.Request) {
		if !p.web.site.ServeStatic(w, r, strings.TrimPrefix(r.URL.Path, pre)) {
			p.web.site.NotFound(w, r)
		}
	})
	mux.HandleFunc(pre+"/", p.web.site.NotFound)
}
