// Package challenge is the gateway's HTTP side without Caddy: the gate every
// proxied request passes (is this user verified for this app session?) and
// the pages under the path prefix where users enroll and verify.
package challenge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Config tunes a Service. Zero values take the defaults noted.
type Config struct {
	// Realm names the organisation whose users and policy this site shares.
	Realm string // default "default"
	// PathPrefix is where our pages live.
	PathPrefix string // default "/.2fa"
	// Issuer is the organisation's name on pages and in authenticator apps.
	Issuer string // default "caddy2fa"
	// Brand is the organisation's logo and accent colour on the pages.
	Brand Branding
	// SessionLifetime bounds a verified session even while the app session
	// lasts (and is the only bound when no app session is visible).
	SessionLifetime time.Duration // default 12h
	// FlowLifetime is how long a started challenge stays open.
	FlowLifetime time.Duration // default 15m
	// FreshFor is how recent a code must be for sensitive changes (a new
	// method or phone, removing devices, the admin pages).
	FreshFor time.Duration // default 10m
	// MaxCodeAttempts is the number of wrong codes one challenge allows.
	MaxCodeAttempts int // default 5
	// UserFailLimit wrong codes per user within UserFailWindow lock the
	// user out until the window ends, across challenges and sessions.
	UserFailLimit  int           // default 10
	UserFailWindow time.Duration // default 15m
	// IPFailLimit wrong codes from one client IP within IPFailWindow,
	// across accounts, lock that IP out.
	IPFailLimit  int           // default 30
	IPFailWindow time.Duration // default 10m
	// EmailSender delivers email codes and notices; nil: no email method.
	EmailSender notify.EmailSender
	// SMSSender delivers SMS codes; nil: SMS (a paid add-on) is off.
	SMSSender notify.SMSSender
	// CodeLifetime is how long an emailed or texted code stays valid.
	CodeLifetime time.Duration // default 10m
	// EmailCooldown and SMSCooldown are the waits between two sends.
	EmailCooldown time.Duration // default 30s
	SMSCooldown   time.Duration // default 60s
	// EmailPerHour and SMSPerHour cap sends per user per hour; SMSPerDay
	// caps texts per user and per phone number per day (SMS pumping).
	EmailPerHour int // default 5
	SMSPerHour   int // default 5
	SMSPerDay    int // default 10
	// SMSCountries lists the country calling codes SMS may go to; empty
	// allows all.
	SMSCountries []int
	// PhoneRegion is the region assumed for numbers typed without a
	// country code ("US", "GB"); empty requires the + form.
	PhoneRegion string
	// Mailer sends the setup emails durably when 2FA is turned on.
	Mailer BulkMailer
	// AdminPermission is the group that makes a user an org admin.
	AdminPermission string // default "general_settings:manager"
	// EnforceImmediately challenges app sessions that were already open
	// when 2FA was turned on; by default they continue until their next
	// login, as the product promises.
	EnforceImmediately bool
	// SiteURL is the site's public address for links in emails (never
	// taken from a request's Host header).
	SiteURL string
	// ClientIP returns the request's client address (Caddy's client_ip).
	ClientIP func(*http.Request) string
	// Logger receives operator events; never codes, secrets or cookies.
	Logger *slog.Logger
	// OnEvent is told of each notable event (for metrics).
	OnEvent func(name string)
	// OnUserChanged is told when the pages change a user's sessions (a new
	// method, a reset, a new session), so the gate's caches follow at once;
	// the store's change notification follows anyway.
	OnUserChanged func(user string)
	// Now is the clock (tests set it).
	Now func() time.Time
}

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
	if c.MaxCodeAttempts <= 0 {
		c.MaxCodeAttempts = 5
	}
	if c.UserFailLimit <= 0 {
		c.UserFailLimit = 10
	}
	if c.UserFailWindow <= 0 {
		c.UserFailWindow = 15 * time.Minute
	}
	if c.IPFailLimit <= 0 {
		c.IPFailLimit = 30
	}
	if c.IPFailWindow <= 0 {
		c.IPFailWindow = 10 * time.Minute
	}
	if c.CodeLifetime <= 0 {
		c.CodeLifetime = 10 * time.Minute
	}
	if c.EmailCooldown <= 0 {
		c.EmailCooldown = 30 * time.Second
	}
	if c.SMSCooldown <= 0 {
		c.SMSCooldown = 60 * time.Second
	}
	if c.EmailPerHour <= 0 {
		c.EmailPerHour = 5
	}
	if c.SMSPerHour <= 0 {
		c.SMSPerHour = 5
	}
	if c.SMSPerDay <= 0 {
		c.SMSPerDay = 10
	}
	if c.AdminPermission == "" {
		c.AdminPermission = "general_settings:manager"
	}
	if c.ClientIP == nil {
		c.ClientIP = func(r *http.Request) string { return hostOnly(r.RemoteAddr) }
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
	if c.CodeLifetime > 15*time.Minute {
		return errors.New("code lifetime above 15 minutes gives guessing too much time")
	}
	if c.FreshFor > 0 && (c.FreshFor < time.Minute || c.SessionLifetime > 0 && c.FreshFor > c.SessionLifetime) {
		return errors.New("fresh_for must be at least 1m and at most the session lifetime")
	}
	if c.MaxCodeAttempts > 10 {
		return errors.New("max code attempts above 10 weakens brute-force protection")
	}
	return nil
}

// Service serves one site's pages.
type Service struct {
	cfg      Config
	backend  store.Backend
	ring     *keyring.Ring
	codec    accounts.Codec
	policy   *policy.Snapshot
	pages    *renderer
	refusals *folder // audit events of refused requests, folded per client
}

// New builds a service. The policy snapshot must follow cfg.Realm.
func New(cfg Config, b store.Backend, ring *keyring.Ring, pol *policy.Snapshot) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil || ring == nil || pol == nil {
		return nil, errors.New("challenge: store, keys and policy are required")
	}
	if pol.Realm() != cfg.Realm {
		return nil, fmt.Errorf("challenge: the policy snapshot follows realm %q, not %q", pol.Realm(), cfg.Realm)
	}
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, backend: b, ring: ring, codec: accounts.NewCodec(ring, cfg.Realm), policy: pol, pages: r, refusals: newFolder(auditWindow, 10_000)}, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// OwnPath reports whether the path is one of our pages.
func (s *Service) OwnPath(path string) bool {
	p := s.cfg.PathPrefix
	return path == p || strings.HasPrefix(path, p+"/")
}

func (s *Service) event(name string) { s.cfg.OnEvent(name) }

func hostOnly(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}
