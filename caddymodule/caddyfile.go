package caddymodule

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("twofactor", parseHandler)
	// After basic_auth and forward_auth, so their identity is known.
	httpcaddyfile.RegisterDirectiveOrder("twofactor", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterGlobalOption("twofactor", parseGlobal)
}

func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(Handler)
	err := t.UnmarshalCaddyfile(h.Dispenser)
	return t, err
}

// UnmarshalCaddyfile reads the twofactor directive:
//
//	twofactor {
//		identity {
//			id     {http.auth.user.id}
//			email  {http.request.header.X-Remote-Email}
//			phone  {http.request.header.X-Remote-Phone}
//			name   {http.request.header.X-Remote-Name}
//			groups {http.request.header.X-Remote-Groups}
//			headers_from_handler
//		}
//		identity lookup <url> {
//			cookie <name>
//			cache <duration>
//			negative_cache <duration>
//			timeout <duration>
//			field <id|email|phone|name|groups> <json field>
//		}
//		session_cookie <name>
//		policy {
//			enforce
//			methods totp [email] [sms]
//			remember <duration>
//		}
//		issuer <name>
//		realm <name>
//		bypass <path>...
//		path_prefix <path>
//		session_lifetime <duration>
//		trusted_proxies <cidr>...
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "identity":
			if err := h.unmarshalIdentity(d); err != nil {
				return err
			}
		case "session_cookie":
			if !d.AllArgs(&h.SessionCookie) {
				return d.ArgErr()
			}
		case "policy":
			if err := h.unmarshalPolicy(d); err != nil {
				return err
			}
		case "issuer":
			if !d.AllArgs(&h.Issuer) {
				return d.ArgErr()
			}
		case "realm":
			if !d.AllArgs(&h.Realm) {
				return d.ArgErr()
			}
		case "bypass":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Bypass = append(h.Bypass, args...)
		case "path_prefix":
			if !d.AllArgs(&h.PathPrefix) {
				return d.ArgErr()
			}
		case "session_lifetime":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.SessionLifetime = dur
		case "trusted_proxies":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.TrustedProxies = append(h.TrustedProxies, args...)
		default:
			return d.Errf("unrecognized twofactor option %q", d.Val())
		}
	}
	return nil
}

func (h *Handler) unmarshalIdentity(d *caddyfile.Dispenser) error {
	if h.Identity != nil {
		return d.Err("identity given twice")
	}
	h.Identity = &IdentityConfig{}
	if d.NextArg() {
		if d.Val() != "lookup" {
			return d.Errf("identity takes a block of placeholders, or: identity lookup <url> { cookie <name> }")
		}
		l := &LookupConfig{}
		if !d.NextArg() {
			return d.ArgErr()
		}
		l.URL = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			var err error
			switch d.Val() {
			case "cookie":
				if !d.AllArgs(&l.Cookie) {
					return d.ArgErr()
				}
			case "cache":
				l.Cache, err = durationArg(d)
			case "negative_cache":
				l.NegativeCache, err = durationArg(d)
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
			default:
				return d.Errf("unrecognized identity lookup option %q", d.Val())
			}
			if err != nil {
				return err
			}
		}
		if l.Cookie == "" {
			return d.Err("identity lookup needs the app's session cookie: cookie <name>")
		}
		h.Identity.Lookup = l
		return nil
	}
	id := h.Identity
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "id":
			dst = &id.ID
		case "email":
			dst = &id.Email
		case "phone":
			dst = &id.Phone
		case "name":
			dst = &id.Name
		case "groups":
			dst = &id.Groups
		case "headers_from_handler":
			if d.NextArg() {
				return d.ArgErr()
			}
			id.HeadersFromHandler = true
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

func (h *Handler) unmarshalPolicy(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	h.Policy = &PolicyConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "enforce":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Policy.Enforce = true
		case "methods":
			h.Policy.Methods = d.RemainingArgs()
			if len(h.Policy.Methods) == 0 {
				return d.ArgErr()
			}
		case "remember":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.Policy.Remember = dur
		default:
			return d.Errf("unrecognized policy option %q (enforce, methods, remember)", d.Val())
		}
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("bad duration %q: %v", s, err)
	}
	return caddy.Duration(dur), nil
}

// parseGlobal reads the twofactor global option:
//
//	twofactor {
//		store file <path>
//		keys <secrets or placeholder>
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		a, ok := existing.(httpcaddyfile.App)
		if !ok {
			return nil, fmt.Errorf("unexpected existing twofactor option %T", existing)
		}
		if err := json.Unmarshal(a.Value, app); err != nil {
			return nil, err
		}
	}
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "twofactor", Value: jsonOf(app)}, nil
}

// UnmarshalCaddyfile reads the global options block.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "store":
			var kind string
			if !d.NextArg() {
				return d.ArgErr()
			}
			kind = d.Val()
			switch kind {
			case "file":
				a.Store = &StoreConfig{Backend: "file"}
				if !d.AllArgs(&a.Store.Path) {
					return d.ArgErr()
				}
			default:
				return d.Errf("unknown store %q (use: store file <path>)", kind)
			}
		case "keys":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			a.Keys = strings.Join(args, " ")
		default:
			return d.Errf("unrecognized twofactor global option %q", d.Val())
		}
	}
	return nil
}

func jsonOf(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return raw
}

var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)
