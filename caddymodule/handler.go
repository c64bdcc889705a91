package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/assertion"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/passkey"
)

func init() {
	caddy.RegisterModule(new(Handler))
}

// Handler is http.handlers.twofactor: it lets through requests without an
// identity, and requests of users who passed two-factor authentication for
// their app session; it sends everyone else to the challenge pages.
type Handler struct {
	// Identity says who a request belongs to: a twofactor.identity module
	// named by "source", "placeholders" (set by basic_auth, forward_auth,
	// an authentication provider or a trusted proxy's headers) or "lookup"
	// (the app's "who am I" endpoint). Default: placeholders with the ID
	// {http.auth.user.id}.
	IdentityRaw json.RawMessage `json:"identity,omitempty" caddy:"namespace=twofactor.identity inline_key=source"`
	// SessionCookie is the app's session cookie: a new value (a new login
	// to the app) needs two-factor authentication again. The lookup
	// identity names it itself. Default: none; then a verified session
	// lasts session_lifetime.
	SessionCookie string `json:"session_cookie,omitempty"`
	// Realm names the organisation this site belongs to: sites of one
	// realm share users, policy and admins. Default "default".
	Realm string `json:"realm,omitempty"`
	// Logo is shown beside the name on the pages: a file (PNG, JPEG, GIF,
	// WebP or SVG, at most 32 KiB) or a data: URI of one. The module
	// serves it; pages make no request elsewhere. Default: none.
	Logo string `json:"logo,omitempty"`
	// Accent colours buttons and links, "rrggbb" or "rgb" with or without
	// "#" (quote it in a Caddyfile); made darker or lighter where needed to
	// stay readable in both colour schemes. Default: blue.
	Accent string `json:"accent,omitempty"`
	// Bypass lists paths that are never challenged, matched exactly and
	// case-sensitively against the cleaned path; a trailing * matches a
	// prefix ("/static/*"). Default: none.
	Bypass []string `json:"bypass,omitempty"`
	// Fresh are step-up paths: parts of the app that want a code entered
	// more recently than the session's. Default: none.
	Fresh []FreshPaths `json:"fresh,omitempty"`
	// Assertion signs, for the app, who each verified request is and how
	// they passed. Default: off.
	Assertion *AssertionConfig `json:"assertion,omitempty"`
	// PathPrefix is where the challenge pages live. Default "/.2fa".
	PathPrefix string `json:"path_prefix,omitempty"`
	// SessionLifetime bounds a verified session. Default 12h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`
	// FreshFor is how recent a code must be for sensitive changes: a new
	// or replaced method (a new phone too), removing trusted devices, and
	// every admin page. At least 1m, at most the session lifetime. Default
	// 10m.
	FreshFor caddy.Duration `json:"fresh_for,omitempty"`
	// IDCase "insensitive" lower-cases user IDs before use, for first
	// factors that accept any case (LDAP): "ALICE" and "alice" are then one
	// user. Default "exact": IDs are compared as they are.
	IDCase string `json:"id_case,omitempty"`
	// TrustedProxies are CIDRs whose requests may carry identity headers.
	// The server's own trusted_proxies option does not count: trusting a
	// proxy for client addresses is not trusting it to name users. Default:
	// none.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// Limits tune codes, attempts and sends within safe bounds. Default:
	// the values noted on each.
	Limits *Limits `json:"limits,omitempty"`
	// UsersFile is a directory of known users (CSV with an id,email,phone,
	// name header, or a JSON array), read at start and when it changes.
	// Default: none; users are known from their first visit.
	UsersFile string `json:"users_file,omitempty"`
	// SiteURL is the site's public URL for links in emails, e.g.
	// https://app.example.com; never taken from the request. Default:
	// none; emails carry no link.
	SiteURL string `json:"site_url,omitempty"`

	// The realm settings below belong in the app's realms now. Here they
	// still apply to the site's realm, with a warning; two sources that
	// differ are refused. Each defaults to the realm's.

	// Policy is deprecated: use the realm's policy. Default: the realm's.
	Policy *PolicyConfig `json:"policy,omitempty"`
	// Issuer is deprecated: use the realm's issuer. Default: the realm's.
	Issuer string `json:"issuer,omitempty"`
	// AdminPermission is deprecated: use the realm's admin_permission.
	// Default: the realm's.
	AdminPermission string `json:"admin_permission,omitempty"`
	// SMSCountries is deprecated: use the realm's sms_countries. Default:
	// the realm's.
	SMSCountries []int `json:"sms_countries,omitempty"`
	// PhoneRegion is deprecated: use the realm's phone_region. Default: the
	// realm's.
	PhoneRegion string `json:"phone_region,omitempty"`
	// EnforceImmediately is deprecated: use the realm's
	// enforce_immediately. Default: the realm's.
	EnforceImmediately bool `json:"enforce_immediately,omitempty"`

	app     *App
	logger  *zap.Logger
	slogger *slog.Logger
	metrics *metrics
	source  IdentitySource
	// cookies reads the Cookie header once, for the gate, the lookup and
	// the app alike.
	cookies *identity.CookieReader
	// headers strips identity headers a client may not send.
	headers *gate.Headers
	bypass  *gate.Bypass
	fresh   []gate.FreshRule
	// assertHeader is the assertion's header, canonical, and all its
	// spellings (to remove clients' copies).
	assertHeader    string
	assertSpellings gate.HeaderSpelling
	// look answers before the app has started.
	look *pages.Site
	// parts are what the started app gave the site.
	parts atomic.Pointer[siteParts]
}

// siteParts are a site's gate and pages, built when the app starts.
type siteParts struct {
	gate   *gate.Gate
	site   *site
	signer *assertion.Signer // nil: no assertion
}

// CaddyModule returns the Caddy module information.
func (*Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.twofactor", New: func() caddy.Module { return new(Handler) }}
}

// Provision loads the identity source and registers the site with the
// app; the app gives it its gate and pages when it starts.
func (h *Handler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("twofactor")
	if err != nil {
		return fmt.Errorf("twofactor app: %w", err)
	}
	metrics, err := newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	if h.IdentityRaw, err = normalizeIdentity(h.IdentityRaw); err != nil {
		return err
	}
	mod, err := ctx.LoadModule(h, "IdentityRaw")
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	src, ok := mod.(IdentitySource)
	if !ok {
		return fmt.Errorf("identity: module %T is not an identity source", mod)
	}
	return h.provision(appIface.(*App), src, ctx.Logger(), ctx.Slogger(), metrics)
}

// provision is Provision after Caddy's part, so tests and benchmarks can
// build a handler directly.
func (h *Handler) provision(app *App, src IdentitySource, logger *zap.Logger, slogger *slog.Logger, m *metrics) error {
	h.app, h.source, h.logger, h.slogger, h.metrics = app, src, logger, slogger, m
	var err error
	if h.cookies, err = src.CookieReader(h.SessionCookie); err != nil {
		return err
	}
	read, kept := src.HeaderNames()
	if h.headers, err = gate.NewHeaders(read, kept, h.TrustedProxies); err != nil {
		return err
	}
	if h.bypass, err = gate.NewBypass(h.Bypass); err != nil {
		return err
	}
	if h.fresh, err = freshRules(h.Fresh); err != nil {
		return err
	}
	if h.Assertion != nil {
		h.assertHeader = h.Assertion.header()
		h.assertSpellings = gate.NewHeaderSpelling(h.assertHeader)
	}
	if h.look, err = h.newLook(h.Issuer, "", nil); err != nil {
		return err
	}
	return app.addSite(h)
}

// normalizeIdentity names the source of an identity written as an earlier
// version took it: {"id": ...} for placeholders, {"lookup": {...}}.
func normalizeIdentity(raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil {
		return json.RawMessage(`{"source":"placeholders","id":"{http.auth.user.id}"}`), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if _, ok := m["source"]; ok {
		return raw, nil
	}
	if lookup, ok := m["lookup"]; ok {
		m = nil
		if err := json.Unmarshal(lookup, &m); err != nil {
			return nil, fmt.Errorf("identity lookup: %w", err)
		}
		m["source"] = json.RawMessage(`"lookup"`)
	} else {
		m["source"] = json.RawMessage(`"placeholders"`)
	}
	return json.Marshal(m)
}

// start gives the site its gate and pages on its started realm.
func (h *Handler) start(rs *realmState, run *running) error {
	g, err := gate.New(gate.Config{
		PathPrefix: h.PathPrefix, SessionLifetime: time.Duration(h.SessionLifetime),
		EnforceImmediately: rs.cfg.EnforceImmediately, Bypass: h.bypass, Fresh: h.fresh, OnEvent: h.metrics.event, ClientIP: clientIP,
	}, rs.gate)
	if err != nil {
		return err
	}
	signer, err := h.signer(rs.name, run.ring)
	if err != nil {
		return err
	}
	s, err := h.buildSite(rs, run, signer)
	if err != nil {
		return err
	}
	h.parts.Store(&siteParts{gate: g, site: s, signer: signer})
	return nil
}

// ServeHTTP asks the gate about the request and does what it says.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := h.parts.Load()
	if p == nil && h.waitForStart(r) {
		p = h.parts.Load()
	}
	if p == nil {
		return h.refuse(w, r, nil, gate.Verdict{Kind: gate.Unavailable, Err: errNotStarted})
	}
	if p.site.related != nil && r.URL.Path == passkey.WellKnownPath {
		p.site.related.ServeHTTP(w, r)
		return nil
	}
	// Before anything reads them: identity headers count only when a
	// trusted party set them.
	h.headers.Strip(r)
	cookies, cookieErr := h.cookies.Read(r.Header["Cookie"])
	v := p.gate.Decide(r.Context(), gate.Facts{
		Request: r, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Secure: r.TLS != nil,
		CookieLines: r.Header["Cookie"], Cookies: cookies, CookieErr: cookieErr, Who: h,
	})
	for _, c := range v.Cookies {
		http.SetCookie(w, c)
	}
	switch v.Kind {
	case gate.Pass:
		return h.proxy(w, r, p, v, cookies, next)
	case gate.Pages:
		p.site.mux.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), v.Identity)))
	case gate.Challenge:
		p.site.challenge.Begin(w, r, v.Identity)
	case gate.StepUp:
		p.site.challenge.BeginStepUp(w, r, v.Identity, v.Within)
	default:
		return h.refuse(w, r, p, v)
	}
	return nil
}

// waitForStart holds a request that came before the app finished
// starting (Caddy starts its apps in no set order), for a few seconds.
func (h *Handler) waitForStart(r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	return h.app.started(ctx) != nil
}

// Identify says who a request is, for the gate: the identity source's
// answer, bound to the request's app session, with the ID folded when the
// first factor ignores case ("ALICE" must not be a fresh, unenrolled user
// with counters of its own).
func (h *Handler) Identify(r *http.Request, cookies identity.Cookies, proxied bool) (identity.Identity, error) {
	id, err := h.source.Identify(r, cookies, proxied)
	if err != nil || !id.Known() {
		return identity.Identity{}, err
	}
	id.AppSession = cookies.Session
	if h.IDCase == "insensitive" {
		id.ID = strings.ToLower(id.ID)
	}
	return id, nil
}

func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return identity.PeerIP(r)
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
	_ gate.Identifier             = (*Handler)(nil)
)
