package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
)

func init() {
	caddy.RegisterModule(new(Handler))
}

// Handler is http.handlers.twofactor: it lets through requests without an
// identity, and requests of users who passed two-factor authentication for
// their app session; it sends everyone else to the challenge pages.
type Handler struct {
	// Identity says who a request belongs to.
	Identity *IdentityConfig `json:"identity,omitempty"`
	// SessionCookie is the app's session cookie: a new value (a new login
	// to the app) needs two-factor authentication again. The lookup
	// identity sets it implicitly.
	SessionCookie string `json:"session_cookie,omitempty"`
	// Policy is the organisation's initial policy, used while the store
	// holds none (admins change it at run time).
	Policy *PolicyConfig `json:"policy,omitempty"`
	// Issuer is the organisation's name on pages and in authenticator apps.
	Issuer string `json:"issuer,omitempty"`
	// Logo is shown beside the name on the pages: a file (PNG, JPEG, GIF,
	// WebP or SVG, at most 32 KiB) or a data: URI of one. The module
	// serves it; pages make no request elsewhere.
	Logo string `json:"logo,omitempty"`
	// Accent colours buttons and links, "rrggbb" or "rgb" with or without
	// "#" (quote it in a Caddyfile); made darker or lighter where needed to
	// stay readable in both colour schemes.
	Accent string `json:"accent,omitempty"`
	// Realm groups sites that share users and policy. Default "default".
	Realm string `json:"realm,omitempty"`
	// Bypass lists paths that are never challenged, matched exactly and
	// case-sensitively against the cleaned path; a trailing * matches a
	// prefix ("/static/*").
	Bypass []string `json:"bypass,omitempty"`
	// PathPrefix is where the challenge pages live. Default "/.2fa".
	PathPrefix string `json:"path_prefix,omitempty"`
	// SessionLifetime bounds a verified session. Default 12h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`
	// FreshFor is how recent a code must be for sensitive changes: a new
	// or replaced method (a new phone too), removing trusted devices, and
	// every admin page. Default 10m; at least 1m, at most the session
	// lifetime.
	FreshFor caddy.Duration `json:"fresh_for,omitempty"`
	// IDCase "insensitive" lower-cases user IDs before use, for first
	// factors that accept any case (LDAP): "ALICE" and "alice" are then one
	// user. Default: IDs are compared exactly.
	IDCase string `json:"id_case,omitempty"`
	// TrustedProxies are CIDRs whose requests may carry identity headers.
	// The server's own trusted_proxies option does not count: trusting a
	// proxy for client addresses is not trusting it to name users.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// Limits tune codes, attempts and sends within safe bounds.
	Limits *Limits `json:"limits,omitempty"`
	// SMSCountries lists the country calling codes texts may go to
	// (1 for North America, 44 for the UK); empty allows every country.
	SMSCountries []int `json:"sms_countries,omitempty"`
	// PhoneRegion is assumed for numbers typed without a country code
	// ("US"); empty requires the + form.
	PhoneRegion string `json:"phone_region,omitempty"`
	// AdminPermission is the group (from the identity's groups) that makes
	// a user an org admin. Default "general_settings:manager".
	AdminPermission string `json:"admin_permission,omitempty"`
	// EnforceImmediately challenges app sessions already open when 2FA is
	// turned on; by default they continue until the user's next login.
	EnforceImmediately bool `json:"enforce_immediately,omitempty"`
	// UsersFile is a directory of known users (CSV with an id,email,phone,
	// name header, or a JSON array), read at start and when it changes.
	UsersFile string `json:"users_file,omitempty"`
	// SiteURL is the site's public URL for links in emails, e.g.
	// https://app.example.com. Never taken from the request.
	SiteURL string `json:"site_url,omitempty"`

	app       *App
	site      *site
	logger    *zap.Logger
	templates identity.Templates
	lookup    *identity.Lookup
	// headers strips identity headers a client may not send.
	headers *gate.Headers
	gate    *gate.Gate
	// singleTemplates holds each template that is exactly one
	// placeholder, read without building a string through the replacer.
	singleTemplates map[string]singleTemplate
	// cookies reads the Cookie header once, for the gate, the lookup and
	// the app alike.
	cookies *identity.CookieReader
	// With a lookup: what else of a request it watches.
	logoutPaths            []string
	authorizationForwarded bool
	urlSessions            identity.URLSessionParams
}

// singleTemplate is what a one-placeholder identity template reads: a
// request header, or else a replacer key such as http.auth.user.id.
type singleTemplate struct{ header, key string }

// IdentityConfig is where the user's identity comes from: placeholders
// (set by basic_auth, forward_auth, an authentication provider, or
// headers of a trusted proxy), or a lookup against the app.
type IdentityConfig struct {
	ID     string `json:"id,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Name   string `json:"name,omitempty"`
	Groups string `json:"groups,omitempty"`
	// HeadersFromHandler names the identity headers that a handler running
	// before twofactor sets, removing client copies (forward_auth with
	// copy_headers, request_header): those are kept. Every other identity
	// header is deleted unless the peer is one of trusted_proxies.
	HeadersFromHandler HeaderNames `json:"headers_from_handler,omitempty"`
	// Lookup asks the app's "who am I" endpoint instead.
	Lookup *LookupConfig `json:"lookup,omitempty"`
}

// LookupConfig is the "who am I" lookup.
type LookupConfig struct {
	// URL of the endpoint, e.g. http://127.0.0.1:9000/api/me. It answers
	// 200 with {"id","email","phone","name","groups"} for a logged-in
	// session, and a guest status (401, 403) or a guest answer otherwise.
	URL string `json:"url"`
	// Cookie is the app's session cookie: a new value is a new login.
	Cookie string `json:"cookie"`
	// Cookies lists the cookies forwarded to the URL, by name or with '*'
	// patterns ("wordpress_logged_in_*"); the session cookie always is.
	// Empty (the default) forwards every cookie but the gateway's own,
	// which is right for apps with several sign-in cookies.
	Cookies []string `json:"cookies,omitempty"`
	// Headers are request headers forwarded to the URL, such as
	// Authorization. A request carrying an Authorization header that is
	// not forwarded is refused.
	Headers []string `json:"headers,omitempty"`
	// SetHeaders are sent with every lookup ({"OCS-APIRequest": "true"}).
	SetHeaders map[string]string `json:"set_headers,omitempty"`
	// Cache is how long an answer is kept per set of credentials. Default
	// 30s.
	Cache caddy.Duration `json:"cache,omitempty"`
	// NegativeCache keeps "not logged in" answers this long. Default 5s;
	// negative turns it off.
	NegativeCache caddy.Duration `json:"negative_cache,omitempty"`
	// Timeout of one lookup. Default 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Fields renames JSON fields: {"id": "user_id"}.
	Fields map[string]string `json:"fields,omitempty"`
	// GuestWhen are answers that mean a guest, besides an id that is
	// absent, null, "", false or 0.
	GuestWhen []identity.GuestRule `json:"guest_when,omitempty"`
	// GuestStatus are the statuses that mean "not logged in". Default 401
	// and 403; any other status but 200 refuses the request (503).
	GuestStatus []int `json:"guest_status,omitempty"`
	// LoginURL are the app's login pages: a redirect there means "not
	// logged in"; any other redirect refuses the request (503).
	LoginURL []string `json:"login_url,omitempty"`
	// LogoutPaths are the app's logout paths: the cached answer for the
	// request's credentials is dropped before and after them.
	LogoutPaths []string `json:"logout_paths,omitempty"`
	// ClientRate and TotalRate bound lookups per second per client (an
	// IPv4 address or IPv6 /64) and in all. Defaults 10 and 200; over the
	// bound the request is refused (503), never let through.
	ClientRate float64 `json:"client_rate,omitempty"`
	TotalRate  float64 `json:"total_rate,omitempty"`
	// URLSessionParams are URL session ids the app accepts, refused in
	// path parameters and queries. Always included: jsessionid, phpsessid
	// and the names of the forwarded cookies.
	URLSessionParams []string `json:"url_session_params,omitempty"`
}

// Limits tune the abuse limits; zero values keep the defaults.
type Limits struct {
	CodeLifetime  caddy.Duration `json:"code_lifetime,omitempty"`  // default 10m, at most 15m
	CodeAttempts  int            `json:"code_attempts,omitempty"`  // wrong codes per challenge, default 5, at most 10
	UserFailures  int            `json:"user_failures,omitempty"`  // wrong codes per user per window, default 10
	UserWindow    caddy.Duration `json:"user_window,omitempty"`    // default 15m
	IPFailures    int            `json:"ip_failures,omitempty"`    // wrong codes per client IP per window, default 30
	IPWindow      caddy.Duration `json:"ip_window,omitempty"`      // default 10m
	EmailCooldown caddy.Duration `json:"email_cooldown,omitempty"` // default 30s
	SMSCooldown   caddy.Duration `json:"sms_cooldown,omitempty"`   // default 60s
	EmailPerHour  int            `json:"email_per_hour,omitempty"` // default 5
	SMSPerHour    int            `json:"sms_per_hour,omitempty"`   // default 5
	SMSPerDay     int            `json:"sms_per_day,omitempty"`    // per user and per number, default 10
}

// PolicyConfig is the initial org policy.
type PolicyConfig struct {
	// Enforce turns two-factor authentication on for every user.
	Enforce bool `json:"enforce,omitempty"`
	// Methods users may use: totp, email, sms. Default: totp.
	Methods []string `json:"methods,omitempty"`
	// Remember is how long a device may be trusted ("remember me"); 0 is off.
	Remember caddy.Duration `json:"remember,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.twofactor", New: func() caddy.Module { return new(Handler) }}
}

// Provision wires the handler to the shared app and starts following
// policy and user changes.
func (h *Handler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("twofactor")
	if err != nil {
		return fmt.Errorf("twofactor app: %w", err)
	}
	return h.setup(ctx, appIface.(*App), ctx.Logger(), ctx.Slogger(), ctx.GetMetricsRegistry())
}

// setup is Provision without Caddy's context, so benchmarks can build a
// handler directly. ctx bounds the change-following goroutine.
func (h *Handler) setup(ctx context.Context, app *App, logger *zap.Logger, slogger *slog.Logger, reg prometheus.Registerer) error {
	h.app, h.logger = app, logger
	if h.Identity == nil {
		h.Identity = &IdentityConfig{ID: "{http.auth.user.id}"}
	}
	if err := h.provisionIdentity(); err != nil {
		return err
	}
	headers, err := gate.NewHeaders(h.templates.HeaderNames(), h.Identity.HeadersFromHandler, h.TrustedProxies)
	if err != nil {
		return err
	}
	h.headers = headers
	bypass, err := gate.NewBypass(h.Bypass)
	if err != nil {
		return err
	}
	snapshot := policy.NewSnapshot(h.app.backend, realmOr(h.Realm), h.initialPolicy())
	metrics, err := newMetrics(reg)
	if err != nil {
		return err
	}
	realm, err := gate.NewRealm(realmOr(h.Realm), h.app.backend, h.app.ring, snapshot, nil, slogger)
	if err != nil {
		return err
	}
	h.gate, err = gate.New(gate.Config{
		PathPrefix: h.PathPrefix, SessionLifetime: time.Duration(h.SessionLifetime),
		EnforceImmediately: h.EnforceImmediately, Bypass: bypass, OnEvent: metrics.event,
	}, realm)
	if err != nil {
		return err
	}
	if h.site, err = h.buildSite(realm, snapshot, slogger, metrics.event); err != nil {
		return err
	}
	realm.Start(ctx)
	if h.UsersFile != "" {
		go h.watchUsersFile(ctx, time.Duration(0))
	}
	return nil
}

// watchUsersFile imports the users file now and whenever it changes.
func (h *Handler) watchUsersFile(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	var seen time.Time
	for {
		if fi, err := os.Stat(h.UsersFile); err != nil {
			h.logger.Error("cannot read users_file", zap.String("path", h.UsersFile), zap.Error(err))
		} else if !fi.ModTime().Equal(seen) {
			entries, err := accounts.ReadDirectoryFile(h.UsersFile)
			if err == nil {
				var n int
				n, err = accounts.ImportDirectory(ctx, h.app.backend, realmOr(h.Realm), entries)
				h.logger.Info("users_file imported", zap.String("path", h.UsersFile), zap.Int("users", len(entries)), zap.Int("changed", n))
			}
			if err != nil {
				h.logger.Error("users_file import failed", zap.String("path", h.UsersFile), zap.Error(err))
			} else {
				seen = fi.ModTime()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (h *Handler) provisionIdentity() error {
	id := h.Identity
	if id.Lookup != nil {
		if err := h.provisionLookup(id.Lookup); err != nil {
			return fmt.Errorf("identity lookup: %w", err)
		}
		return nil
	}
	if err := h.provisionCookies(nil, false); err != nil {
		return err
	}
	h.templates = identity.Templates{ID: id.ID, Email: id.Email, Phone: id.Phone, Name: id.Name, Groups: id.Groups}
	h.singleTemplates = map[string]singleTemplate{}
	for _, tmpl := range []string{id.ID, id.Email, id.Phone, id.Name, id.Groups} {
		if name, ok := identity.SingleHeader(tmpl); ok {
			h.singleTemplates[tmpl] = singleTemplate{header: name}
		} else if key, ok := identity.SinglePlaceholder(tmpl); ok {
			h.singleTemplates[tmpl] = singleTemplate{key: key}
		}
	}
	return nil
}

func (h *Handler) initialPolicy() policy.Policy {
	p := policy.Policy{Methods: []string{policy.MethodTOTP}}
	if h.Policy != nil {
		p.Enabled = h.Policy.Enforce
		if len(h.Policy.Methods) > 0 {
			p.Methods = h.Policy.Methods
		}
		if r := time.Duration(h.Policy.Remember); r > 0 {
			p.RememberDays = int((r + 24*time.Hour - 1) / (24 * time.Hour))
		}
	}
	return p
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.Identity != nil && h.Identity.Lookup == nil && h.Identity.ID == "" {
		return errors.New("identity: id is required (for example {http.auth.user.id})")
	}
	if _, err := gate.NewBypass(h.Bypass); err != nil {
		return err
	}
	lifetime := cmp.Or(time.Duration(h.SessionLifetime), 12*time.Hour)
	if f := time.Duration(h.FreshFor); f != 0 && (f < time.Minute || f > lifetime) {
		return fmt.Errorf("fresh_for %v: use at least 1m and at most the session lifetime (%v)", f, lifetime)
	}
	switch h.IDCase {
	case "", "exact", "insensitive":
	default:
		return fmt.Errorf("id_case %q: use exact (the default) or insensitive", h.IDCase)
	}
	if err := h.initialPolicy().Validate(h.availability()); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if l := h.Limits; l != nil {
		if l.CodeAttempts < 0 || l.UserFailures < 0 || l.IPFailures < 0 || l.EmailPerHour < 0 || l.SMSPerHour < 0 || l.SMSPerDay < 0 {
			return errors.New("limits must not be negative")
		}
		if l.SMSPerDay > 50 || l.SMSPerHour > 20 || l.EmailPerHour > 60 {
			return errors.New("limits: send caps that high invite SMS pumping and mail bombing (at most sms_per_day 50, sms_per_hour 20, email_per_hour 60)")
		}
		if time.Duration(l.CodeLifetime) > 15*time.Minute {
			return errors.New("limits: a code lifetime above 15 minutes gives guessing too much time")
		}
		if l.CodeAttempts > 10 {
			return errors.New("limits: more than 10 code attempts per challenge weakens brute-force protection")
		}
		if l.UserFailures > 50 || l.IPFailures > 500 {
			return errors.New("limits: failure limits that high weaken brute-force protection")
		}
	}
	if h.SiteURL != "" {
		u, err := url.Parse(h.SiteURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("site_url %q: use the site's public URL, such as https://app.example.com", h.SiteURL)
		}
	}
	for _, c := range h.SMSCountries {
		if c < 1 || c > 999 {
			return fmt.Errorf("sms_countries: %d is not a country calling code", c)
		}
	}
	return nil
}

// availability is what the app's senders can deliver.
func (h *Handler) availability() policy.Availability {
	if h.app == nil {
		return policy.Availability{}
	}
	return policy.Availability{Email: h.app.emailSender != nil, SMS: h.app.smsSender != nil}
}

// ServeHTTP asks the gate about the request and does what it says.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Before anything reads them: identity headers count only when a
	// trusted party set them.
	h.headers.Strip(r)
	cookies, cookieErr := h.cookies.Read(r.Header["Cookie"])
	v := h.gate.Decide(r.Context(), gate.Facts{
		Request: r, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Secure: r.TLS != nil,
		ClientIP: clientIP(r), CookieLines: r.Header["Cookie"], Cookies: cookies, CookieErr: cookieErr, Who: h,
	})
	for _, c := range v.Cookies {
		http.SetCookie(w, c)
	}
	switch v.Kind {
	case gate.Pass:
		return h.proxy(w, r, v, cookies, next)
	case gate.Pages:
		h.site.mux.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), v.Identity)))
	case gate.Challenge:
		h.site.challenge.Begin(w, r, v.Identity)
	default:
		return h.refuse(w, r, v)
	}
	return nil
}

func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func realmOr(r string) string {
	if r == "" {
		return "default"
	}
	return r
}

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
