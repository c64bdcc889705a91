package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
)

func init() {
	caddy.RegisterModule(new(LookupIdentity))
}

// LookupIdentity is twofactor.identity.lookup: the app's own "who am I"
// endpoint, asked with the user's cookies, its answers cached briefly and
// every odd answer refused (fail closed).
type LookupIdentity struct {
	// URL of the endpoint, e.g. http://127.0.0.1:9000/api/me; required. It
	// answers 200 with {"id","email","phone","name","groups"} for a
	// logged-in session, and a guest status (401, 403) or a guest answer
	// otherwise.
	URL string `json:"url"`
	// Cookie is the app's session cookie: a new value is a new login.
	// Required.
	Cookie string `json:"cookie"`
	// Cookies lists the cookies forwarded to the URL, by name or with '*'
	// patterns ("wordpress_logged_in_*"); the session cookie always is.
	// Default: every cookie but the gateway's own, which is right for apps
	// with several sign-in cookies.
	Cookies []string `json:"cookies,omitempty"`
	// Headers are request headers forwarded to the URL, such as
	// Authorization. Default: none; a request carrying an Authorization
	// header that is not forwarded is refused.
	Headers []string `json:"headers,omitempty"`
	// SetHeaders are sent with every lookup ({"OCS-APIRequest": "true"}).
	// Default: none.
	SetHeaders map[string]string `json:"set_headers,omitempty"`
	// Cache is how long an answer is kept per set of credentials. Default
	// 30s.
	Cache caddy.Duration `json:"cache,omitempty"`
	// NegativeCache keeps "not logged in" answers this long; negative
	// turns it off. Default 5s.
	NegativeCache caddy.Duration `json:"negative_cache,omitempty"`
	// Timeout of one lookup. Default 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Fields renames JSON fields: {"id": "user_id"}. Default: the names
	// above.
	Fields map[string]string `json:"fields,omitempty"`
	// GuestWhen are answers that mean a guest, besides an id that is
	// absent, null, "", false or 0. Default: none.
	GuestWhen []identity.GuestRule `json:"guest_when,omitempty"`
	// GuestStatus are the statuses that mean "not logged in"; any other
	// status but 200 refuses the request (503). Default 401 and 403.
	GuestStatus []int `json:"guest_status,omitempty"`
	// LoginURL are the app's login pages: a redirect there means "not
	// logged in"; any other redirect refuses the request (503). Default:
	// none.
	LoginURL []string `json:"login_url,omitempty"`
	// LogoutPaths are the app's logout paths: the cached answer for the
	// request's credentials is dropped before and after them. Default:
	// none.
	LogoutPaths []string `json:"logout_paths,omitempty"`
	// ClientRate bounds lookups per second per client (an IPv4 address or
	// IPv6 /64); over it the request is refused (503), never let through.
	// Default 10.
	ClientRate float64 `json:"client_rate,omitempty"`
	// TotalRate bounds lookups per second in all, likewise. Default 200.
	TotalRate float64 `json:"total_rate,omitempty"`
	// URLSessionParams are more URL session ids the app accepts, refused
	// in path parameters and queries. Default: jsessionid, phpsessid and
	// the names of the forwarded cookies, which are always included.
	URLSessionParams []string `json:"url_session_params,omitempty"`

	lookup                 *identity.Lookup
	onAsked                func(string, time.Duration)
	cookies                *identity.CookieReader
	authorizationForwarded bool
	urlSessions            identity.URLSessionParams
}

// CaddyModule returns the Caddy module information.
func (*LookupIdentity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.identity.lookup", New: func() caddy.Module { return new(LookupIdentity) }}
}

// Provision builds the lookup client; it asks nothing yet.
func (l *LookupIdentity) Provision(ctx caddy.Context) error {
	m, err := newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	l.onAsked = m.lookup
	return l.provision()
}

func (l *LookupIdentity) provision() error {
	if l.Cookie == "" {
		return errors.New("identity lookup: the app's session cookie is required: cookie <name>")
	}
	for _, p := range l.LogoutPaths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("identity lookup: logout_paths: %q is not a path", p)
		}
	}
	lk, err := identity.NewLookup(identity.LookupConfig{
		URL: l.URL, Headers: l.Headers, SetHeaders: l.SetHeaders,
		CacheTTL: time.Duration(l.Cache), NegativeTTL: time.Duration(l.NegativeCache), Timeout: time.Duration(l.Timeout),
		Fields: l.Fields, GuestWhen: l.GuestWhen, GuestStatus: l.GuestStatus, LoginURL: l.LoginURL,
		ClientRate: l.ClientRate, TotalRate: l.TotalRate, OnAsked: l.onAsked,
	})
	if err != nil {
		return fmt.Errorf("identity lookup: %w", err)
	}
	l.lookup = lk
	l.authorizationForwarded = slices.Contains(lk.Headers(), "Authorization")
	return nil
}

// CookieReader implements IdentitySource: the session cookie and the
// forwarded ones are the names no other spelling may stand for. The
// lookup names the session cookie itself.
func (l *LookupIdentity) CookieReader(string) (*identity.CookieReader, error) {
	c, err := identity.NewCookieReader(identity.CookieRules{
		Session:    l.Cookie,
		Forward:    append([]string{l.Cookie}, l.Cookies...),
		ForwardAll: len(l.Cookies) == 0,
		OwnPrefix:  ownCookiePrefix,
	})
	if err != nil {
		return nil, err
	}
	l.cookies = c
	names := append(slices.Clone(identity.DefaultURLSessionParams), c.CredentialNames()...)
	l.urlSessions = identity.NewURLSessionParams(append(names, l.URLSessionParams...))
	return c, nil
}

// HeaderNames implements IdentitySource: the lookup reads no identity
// headers of the request.
func (l *LookupIdentity) HeaderNames() (read, kept []string) { return nil, nil }

// Identify implements gate.Identifier: a proxied request carrying a
// credential the lookup would not see is refused first.
func (l *LookupIdentity) Identify(r *http.Request, cookies identity.Cookies, proxied bool) (identity.Identity, error) {
	if what, ok := l.uncheckedCredential(r); ok && proxied {
		return identity.Identity{}, &gate.Unchecked{What: what}
	}
	return l.lookup.Resolve(r.Context(), l.credentials(r, cookies))
}

// credentials are what the lookup is asked about for this request.
func (l *LookupIdentity) credentials(r *http.Request, c identity.Cookies) identity.Credentials {
	creds := identity.Credentials{Cookie: c.Lookup, Client: clientIP(r)}
	if names := l.lookup.Headers(); len(names) > 0 {
		creds.Headers = make([]string, len(names))
		for i, name := range names {
			creds.Headers[i] = strings.Join(r.Header[name], ", ")
		}
	}
	return creds
}

// uncheckedCredential names a credential the app may accept that the
// lookup would not see: then the request is anonymous to the gateway but
// perhaps logged in to the app. Forwarded headers sent twice count too:
// stacks differ on which copy they read.
func (l *LookupIdentity) uncheckedCredential(r *http.Request) (string, bool) {
	if _, ok := r.Header["Authorization"]; ok && !l.authorizationForwarded {
		return "an Authorization header", true
	}
	for _, name := range l.lookup.Headers() {
		if len(r.Header[name]) > 1 {
			return "the " + name + " header, sent twice", true
		}
	}
	if name, ok := l.urlSessions.Find(r.URL.Path, r.URL.RawQuery); ok {
		return "a session id in the address (" + name + ")", true
	}
	return "", false
}

// Pass implements IdentitySource: it forgets the lookup's answer for the
// request's credentials whenever the app may have changed whose they are:
// a login or logout usually comes as a request that changes state, a
// visit to a logout path, or a Set-Cookie for a forwarded cookie. Apps
// that keep a session token across login would otherwise be served as the
// previous user until the cache entry ends. A bypassed logout counts too.
func (l *LookupIdentity) Pass(w http.ResponseWriter, r *http.Request, cookies identity.Cookies, next caddyhttp.Handler) error {
	creds := l.credentials(r, cookies)
	changesState := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
	logout := slices.Contains(l.LogoutPaths, r.URL.Path)
	if changesState || logout {
		l.lookup.Forget(creds)
	}
	err := next.ServeHTTP(w, r)
	if changesState || logout || l.cookies.SetsForwarded(w.Header()["Set-Cookie"]) {
		l.lookup.Forget(creds)
	}
	return err
}

// UnmarshalCaddyfile reads "lookup <url> { cookie <name>; ... }".
func (l *LookupIdentity) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // lookup
	if !d.AllArgs(&l.URL) {
		return d.ArgErr()
	}
	allCookies := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "cookie":
			if !d.AllArgs(&l.Cookie) {
				return d.ArgErr()
			}
		case "cookies", "headers", "login_url", "logout_paths", "url_session_params":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			dst := map[string]*[]string{"cookies": &l.Cookies, "headers": &l.Headers, "login_url": &l.LoginURL,
				"logout_paths": &l.LogoutPaths, "url_session_params": &l.URLSessionParams}[opt]
			*dst = append(*dst, args...)
		case "all_cookies":
			if d.NextArg() {
				return d.ArgErr()
			}
			allCookies = true
		case "set_header":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return d.ArgErr()
			}
			if l.SetHeaders == nil {
				l.SetHeaders = map[string]string{}
			}
			l.SetHeaders[name] = value
		case "cache":
			l.Cache, err = durationArg(d)
		case "negative_cache":
			err = l.unmarshalNegativeCache(d)
		case "timeout":
			l.Timeout, err = durationArg(d)
		case "field":
			var name, field string
			if !d.AllArgs(&name, &field) {
				return d.ArgErr()
			}
			if l.Fields == nil {
				l.Fields = map[string]string{}
			}
			l.Fields[name] = field
		case "guest_when":
			err = l.unmarshalGuestWhen(d)
		case "guest_status":
			err = l.unmarshalGuestStatus(d)
		case "rate":
			err = l.unmarshalRate(d)
		default:
			return d.Errf("unrecognized identity lookup option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	if allCookies && len(l.Cookies) > 0 {
		return d.Err("identity lookup: use cookies <names> or all_cookies, not both")
	}
	if l.Cookie == "" {
		return d.Err("identity lookup needs the app's session cookie: cookie <name>")
	}
	return nil
}

func (l *LookupIdentity) unmarshalNegativeCache(d *caddyfile.Dispenser) error {
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	if v == "off" {
		l.NegativeCache = -1
		return nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("bad duration %q: %v", v, err)
	}
	l.NegativeCache = caddy.Duration(dur)
	return nil
}

func (l *LookupIdentity) unmarshalGuestWhen(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Errf("guest_when takes a JSON field and optionally the value that means a guest")
	}
	rule := identity.GuestRule{Field: args[0]}
	if len(args) == 2 {
		rule.Value = &args[1]
	}
	l.GuestWhen = append(l.GuestWhen, rule)
	return nil
}

func (l *LookupIdentity) unmarshalGuestStatus(d *caddyfile.Dispenser) error {
	for _, a := range d.RemainingArgs() {
		code, err := strconv.Atoi(a)
		if err != nil || code < 300 || code > 499 {
			return d.Errf("guest_status: %q is not a 3xx or 4xx status", a)
		}
		l.GuestStatus = append(l.GuestStatus, code)
	}
	if len(l.GuestStatus) == 0 {
		return d.ArgErr()
	}
	return nil
}

func (l *LookupIdentity) unmarshalRate(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Errf("rate takes lookups per second per client, and optionally in all")
	}
	rates := []*float64{&l.ClientRate, &l.TotalRate}
	for i, a := range args {
		v, err := strconv.ParseFloat(strings.TrimSuffix(a, "/s"), 64)
		if err != nil || v <= 0 {
			return d.Errf("rate: %q is not a number of lookups per second", a)
		}
		*rates[i] = v
	}
	return nil
}

var (
	_ IdentitySource        = (*LookupIdentity)(nil)
	_ caddy.Provisioner     = (*LookupIdentity)(nil)
	_ caddyfile.Unmarshaler = (*LookupIdentity)(nil)
)
