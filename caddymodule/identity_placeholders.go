package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
)

func init() {
	caddy.RegisterModule(new(PlaceholderIdentity))
}

// IdentitySource is a twofactor.identity.* module: it says who a request
// is, for the gate.
type IdentitySource interface {
	gate.Identifier
	// CookieReader is how the handler reads the Cookie header for this
	// source: sessionCookie is the site's app session cookie ("" when the
	// site names none).
	CookieReader(sessionCookie string) (*identity.CookieReader, error)
	// HeaderNames are the request headers identity is read from: a client
	// may send them only through a trusted proxy. kept are those a handler
	// before twofactor sets, which stay.
	HeaderNames() (read, kept []string)
	// Pass hands a request the gate let through on to the app.
	Pass(w http.ResponseWriter, r *http.Request, cookies identity.Cookies, next caddyhttp.Handler) error
}

// PlaceholderIdentity is twofactor.identity.placeholders: the identity
// from placeholders the server fills in, set by basic_auth, forward_auth,
// an authentication provider, or headers of a trusted proxy.
type PlaceholderIdentity struct {
	// ID is the user's ID, required; without an identity block at all it
	// is {http.auth.user.id}.
	ID string `json:"id,omitempty"`
	// Email is the user's address, for emailed codes. Default: none.
	Email string `json:"email,omitempty"`
	// Phone is the user's mobile number, for texted codes. Default: none.
	Phone string `json:"phone,omitempty"`
	// Name is how emails greet the user. Default: the ID.
	Name string `json:"name,omitempty"`
	// Groups are the user's groups, split on commas and spaces; one of
	// them may make the user an org admin. Default: none.
	Groups string `json:"groups,omitempty"`
	// HeadersFromHandler names the identity headers that a handler running
	// before twofactor sets, removing client copies (forward_auth with
	// copy_headers, request_header): those are kept. Every other identity
	// header is deleted unless the peer is one of trusted_proxies.
	// Default: none.
	HeadersFromHandler HeaderNames `json:"headers_from_handler,omitempty"`

	templates identity.Templates
	// single holds each template that is exactly one placeholder, read
	// without building a string through the replacer.
	single map[string]singleTemplate
}

// singleTemplate is what a one-placeholder identity template reads: a
// request header, or else a replacer key such as http.auth.user.id.
type singleTemplate struct{ header, key string }

// CaddyModule returns the Caddy module information.
func (*PlaceholderIdentity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.identity.placeholders", New: func() caddy.Module { return new(PlaceholderIdentity) }}
}

// Provision implements caddy.Provisioner.
func (p *PlaceholderIdentity) Provision(caddy.Context) error { return p.provision() }

func (p *PlaceholderIdentity) provision() error {
	p.templates = identity.Templates{ID: p.ID, Email: p.Email, Phone: p.Phone, Name: p.Name, Groups: p.Groups}
	p.single = map[string]singleTemplate{}
	for _, tmpl := range []string{p.ID, p.Email, p.Phone, p.Name, p.Groups} {
		if name, ok := identity.SingleHeader(tmpl); ok {
			p.single[tmpl] = singleTemplate{header: name}
		} else if key, ok := identity.SinglePlaceholder(tmpl); ok {
			p.single[tmpl] = singleTemplate{key: key}
		}
	}
	return nil
}

// Identify implements gate.Identifier.
func (p *PlaceholderIdentity) Identify(r *http.Request, _ identity.Cookies, _ bool) (identity.Identity, error) {
	return p.templates.Resolve(func(s string) string {
		single, ok := p.single[s]
		if ok && single.header != "" {
			return strings.Join(r.Header[single.header], ",") // as the replacer would
		}
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if ok {
			// A string value is what the replacer would write, without
			// building a new one.
			v, found := repl.Get(single.key)
			if !found {
				return ""
			}
			if str, ok := v.(string); ok {
				return str
			}
		}
		return repl.ReplaceAll(s, "")
	}), nil
}

// CookieReader implements IdentitySource: the app session cookie is the
// only credential cookie.
func (p *PlaceholderIdentity) CookieReader(sessionCookie string) (*identity.CookieReader, error) {
	return identity.NewCookieReader(identity.CookieRules{Session: sessionCookie, OwnPrefix: ownCookiePrefix})
}

// HeaderNames implements IdentitySource.
func (p *PlaceholderIdentity) HeaderNames() (read, kept []string) {
	return p.templates.HeaderNames(), p.HeadersFromHandler
}

// Pass implements IdentitySource.
func (p *PlaceholderIdentity) Pass(w http.ResponseWriter, r *http.Request, _ identity.Cookies, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// UnmarshalCaddyfile reads "identity { id ...; email ...; ... }".
func (p *PlaceholderIdentity) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // identity
	if d.NextArg() {
		return d.Errf("identity takes a block of placeholders, or: identity lookup <url> { cookie <name> }")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "id":
			dst = &p.ID
		case "email":
			dst = &p.Email
		case "phone":
			dst = &p.Phone
		case "name":
			dst = &p.Name
		case "groups":
			dst = &p.Groups
		case "headers_from_handler":
			names := d.RemainingArgs()
			if len(names) == 0 {
				return d.Err("headers_from_handler names the headers the earlier handler sets: headers_from_handler X-Remote-User [X-Remote-Groups ...]")
			}
			p.HeadersFromHandler = append(p.HeadersFromHandler, names...)
			continue
		default:
			return d.Errf("unrecognized identity field %q (id, email, phone, name, groups)", d.Val())
		}
		if !d.AllArgs(dst) {
			return d.ArgErr()
		}
	}
	return nil
}

// Validate implements caddy.Validator.
func (p *PlaceholderIdentity) Validate() error {
	if p.ID == "" {
		return errors.New("identity: id is required (for example {http.auth.user.id})")
	}
	return nil
}

var (
	_ IdentitySource        = (*PlaceholderIdentity)(nil)
	_ caddy.Provisioner     = (*PlaceholderIdentity)(nil)
	_ caddy.Validator       = (*PlaceholderIdentity)(nil)
	_ caddyfile.Unmarshaler = (*PlaceholderIdentity)(nil)
)
