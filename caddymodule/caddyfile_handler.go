package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
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
//			headers_from_handler <header>...
//		}
//		identity lookup <url> {
//			cookie <name>
//			cookies <name or pattern>...
//			all_cookies
//			headers <name>...
//			set_header <name> <value>
//			cache <duration>
//			negative_cache <duration|off>
//			timeout <duration>
//			field <id|email|phone|name|groups> <json field>
//			guest_when <json field> [<value>]
//			guest_status <code>...
//			login_url <path>...
//			logout_paths <path>...
//			rate <per client per second> [<in all per second>]
//			url_session_params <name>...
//		}
//		identity <module> ...
//		session_cookie <name>
//		realm <name>
//		logo <file or data: URI>
//		accent <rrggbb>
//		bypass <path>...
//		path_prefix <path>
//		session_lifetime <duration>
//		fresh_for <duration>
//		id_case insensitive
//		trusted_proxies <cidr>...
//		site_url <url>
//		users_file <path>
//		limits {
//			code_lifetime <duration>
//			code_attempts <n>
//			user_failures <n> <window>
//			ip_failures <n> <window>
//			email_cooldown <duration>
//			sms_cooldown <duration>
//			email_per_hour <n>
//			sms_per_hour <n>
//			sms_per_day <n>
//		}
//	}
//
// The realm's settings (issuer, admin_permission, policy, sms_countries,
// phone_region, enforce_immediately) belong in the global twofactor
// block's realm; here they still apply to the site's realm, with a
// warning.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch opt := d.Val(); opt {
		case "identity":
			err = h.unmarshalIdentity(d)
		case "session_cookie", "realm", "logo", "accent", "path_prefix", "id_case", "users_file", "site_url":
			dst := map[string]*string{"session_cookie": &h.SessionCookie, "realm": &h.Realm, "logo": &h.Logo, "accent": &h.Accent,
				"path_prefix": &h.PathPrefix, "id_case": &h.IDCase, "users_file": &h.UsersFile, "site_url": &h.SiteURL}[opt]
			if !d.AllArgs(dst) {
				return d.ArgErr()
			}
		case "bypass", "trusted_proxies":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			dst := map[string]*[]string{"bypass": &h.Bypass, "trusted_proxies": &h.TrustedProxies}[opt]
			*dst = append(*dst, args...)
		case "session_lifetime":
			h.SessionLifetime, err = durationArg(d)
		case "fresh_for":
			h.FreshFor, err = durationArg(d)
		case "limits":
			h.Limits, err = unmarshalLimits(d)
		case "fresh":
			err = unmarshalFresh(d, h)
		case "assertion":
			err = unmarshalAssertion(d, h)
		default:
			var known bool
			if known, err = h.unmarshalRealmOption(d); !known {
				return d.Errf("unrecognized twofactor option %q", opt)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalRealmOption reads a realm setting written in a site's block,
// as an earlier version took them.
func (h *Handler) unmarshalRealmOption(d *caddyfile.Dispenser) (bool, error) {
	r := &RealmConfig{}
	known, err := unmarshalRealmSetting(d, r)
	if !known || err != nil {
		return known, err
	}
	if r.Issuer != "" {
		h.Issuer = r.Issuer
	}
	if r.AdminPermission != "" {
		h.AdminPermission = r.AdminPermission
	}
	if r.Policy != nil {
		h.Policy = r.Policy
	}
	if r.PhoneRegion != "" {
		h.PhoneRegion = r.PhoneRegion
	}
	h.SMSCountries = append(h.SMSCountries, r.SMSCountries...)
	h.EnforceImmediately = h.EnforceImmediately || r.EnforceImmediately
	return true, nil
}

// unmarshalIdentity reads "identity { ... }" (placeholders) or "identity
// <module> ...", such as "identity lookup <url> { ... }".
func (h *Handler) unmarshalIdentity(d *caddyfile.Dispenser) error {
	if h.IdentityRaw != nil {
		return d.Err("identity given twice")
	}
	name := "placeholders"
	if d.NextArg() {
		name = d.Val()
	}
	if _, err := caddy.GetModule("twofactor.identity." + name); err != nil {
		return d.Errf("no identity source %q: identity takes a block of placeholders, or: identity lookup <url> { cookie <name> }", name)
	}
	unm, err := caddyfile.UnmarshalModule(d, "twofactor.identity."+name)
	if err != nil {
		return err
	}
	h.IdentityRaw = caddyconfig.JSONModuleObject(unm, "source", name, nil)
	return nil
}

// unmarshalRealmSetting reads one realm setting into r; known is false for
// a word that is none.
func unmarshalRealmSetting(d *caddyfile.Dispenser, r *RealmConfig) (known bool, err error) {
	switch d.Val() {
	case "issuer":
		return true, oneString(d, &r.Issuer)
	case "admin_permission":
		return true, oneString(d, &r.AdminPermission)
	case "phone_region":
		return true, oneString(d, &r.PhoneRegion)
	case "enforce_immediately":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		r.EnforceImmediately = true
	case "sms_countries":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.ArgErr()
		}
		for _, a := range args {
			n, err := strconv.Atoi(strings.TrimPrefix(a, "+"))
			if err != nil {
				return true, d.Errf("sms_countries: %q is not a country calling code (1, 44, ...)", a)
			}
			r.SMSCountries = append(r.SMSCountries, n)
		}
	case "policy":
		return true, unmarshalPolicy(d, r)
	default:
		return false, nil
	}
	return true, nil
}

func unmarshalPolicy(d *caddyfile.Dispenser, r *RealmConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	p := &PolicyConfig{}
	r.Policy = p
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "enforce":
			p.Enforce = true
			if d.NextArg() {
				if d.Val() != "immediately" {
					return d.Errf("enforce takes no argument but immediately, got %q", d.Val())
				}
				r.EnforceImmediately = true
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "methods":
			p.Methods = d.RemainingArgs()
			if len(p.Methods) == 0 {
				return d.ArgErr()
			}
		case "remember":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			p.Remember = dur
		case "recovery_codes":
			if !d.NextArg() || (d.Val() != "on" && d.Val() != "off") || d.NextArg() {
				return d.Err("recovery_codes takes on or off")
			}
			off := d.Val() == "off"
			p.RecoveryCodesOff = off
		case "setup_by":
			if err := oneString(d, &p.SetupBy); err != nil {
				return err
			}
		case "setup_within":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			p.SetupWithin = dur
		case "setup_skips":
			var n string
			if err := oneString(d, &n); err != nil {
				return err
			}
			skips, err := strconv.Atoi(n)
			if err != nil || skips < 1 {
				return d.Errf("setup_skips takes a number of times, at least 1, got %q", n)
			}
			p.SetupSkips = skips
		default:
			return d.Errf("unrecognized policy option %q (enforce, methods, remember, recovery_codes, setup_by, setup_within, setup_skips)", d.Val())
		}
	}
	return nil
}

func unmarshalLimits(d *caddyfile.Dispenser) (*Limits, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	l := &Limits{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "code_lifetime", "email_cooldown", "sms_cooldown":
			dst := map[string]*caddy.Duration{"code_lifetime": &l.CodeLifetime, "email_cooldown": &l.EmailCooldown, "sms_cooldown": &l.SMSCooldown}[opt]
			*dst, err = durationArg(d)
		case "code_attempts", "email_per_hour", "sms_per_hour", "sms_per_day":
			dst := map[string]*int{"code_attempts": &l.CodeAttempts, "email_per_hour": &l.EmailPerHour, "sms_per_hour": &l.SMSPerHour, "sms_per_day": &l.SMSPerDay}[opt]
			if err = countArg(d, dst); err == nil && d.NextArg() {
				err = d.ArgErr()
			}
		case "user_failures":
			if err = countArg(d, &l.UserFailures); err == nil {
				l.UserWindow, err = durationArg(d)
			}
		case "ip_failures":
			if err = countArg(d, &l.IPFailures); err == nil {
				l.IPWindow, err = durationArg(d)
			}
		default:
			return nil, d.Errf("unrecognized limits option %q", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// countArg reads the next argument, a positive whole number.
func countArg(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil || n < 1 {
		return d.Errf("%s: want a positive whole number, got %q", opt, d.Val())
	}
	*dst = n
	return nil
}

// oneString reads exactly one argument.
func oneString(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
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

var _ caddyfile.Unmarshaler = (*Handler)(nil)
