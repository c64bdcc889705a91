package caddymodule

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/identity"
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
//		session_cookie <name>
//		policy {
//			enforce [immediately]
//			methods totp [email] [sms]
//			remember <duration>
//		}
//		issuer <name>
//		logo <file or data: URI>
//		accent <rrggbb>
//		realm <name>
//		bypass <path>...
//		path_prefix <path>
//		session_lifetime <duration>
//		fresh_for <duration>
//		id_case insensitive
//		trusted_proxies <cidr>...
//		sms_countries <calling code>...
//		phone_region <region>
//		admin_permission <group>
//		enforce_immediately
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
		case "logo":
			if !d.AllArgs(&h.Logo) {
				return d.ArgErr()
			}
		case "accent":
			if !d.AllArgs(&h.Accent) {
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
		case "fresh_for":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.FreshFor = dur
		case "id_case":
			if !d.AllArgs(&h.IDCase) {
				return d.ArgErr()
			}
		case "trusted_proxies":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.TrustedProxies = append(h.TrustedProxies, args...)
		case "sms_countries":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				n, err := strconv.Atoi(strings.TrimPrefix(a, "+"))
				if err != nil {
					return d.Errf("sms_countries: %q is not a country calling code (1, 44, ...)", a)
				}
				h.SMSCountries = append(h.SMSCountries, n)
			}
		case "phone_region":
			if !d.AllArgs(&h.PhoneRegion) {
				return d.ArgErr()
			}
		case "admin_permission":
			if !d.AllArgs(&h.AdminPermission) {
				return d.ArgErr()
			}
		case "enforce_immediately":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.EnforceImmediately = true
		case "users_file":
			if !d.AllArgs(&h.UsersFile) {
				return d.ArgErr()
			}
		case "site_url":
			if !d.AllArgs(&h.SiteURL) {
				return d.ArgErr()
			}
		case "limits":
			if err := h.unmarshalLimits(d); err != nil {
				return err
			}
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
		if err := unmarshalLookup(d, l); err != nil {
			return err
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
			names := d.RemainingArgs()
			if len(names) == 0 {
				return d.Err("headers_from_handler names the headers the earlier handler sets: headers_from_handler X-Remote-User [X-Remote-Groups ...]")
			}
			id.HeadersFromHandler = append(id.HeadersFromHandler, names...)
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

// unmarshalLookup reads the block of identity lookup.
func unmarshalLookup(d *caddyfile.Dispenser, l *LookupConfig) error {
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
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			if v == "off" {
				l.NegativeCache = -1
				continue
			}
			dur, perr := caddy.ParseDuration(v)
			if perr != nil {
				return d.Errf("bad duration %q: %v", v, perr)
			}
			l.NegativeCache = caddy.Duration(dur)
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
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("guest_when takes a JSON field and optionally the value that means a guest")
			}
			rule := identity.GuestRule{Field: args[0]}
			if len(args) == 2 {
				rule.Value = &args[1]
			}
			l.GuestWhen = append(l.GuestWhen, rule)
		case "guest_status":
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
		case "rate":
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
			h.Policy.Enforce = true
			if d.NextArg() {
				if d.Val() != "immediately" {
					return d.Errf("enforce takes no argument but immediately, got %q", d.Val())
				}
				h.EnforceImmediately = true
			}
			if d.NextArg() {
				return d.ArgErr()
			}
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
//		store redis <url> {
//			key_prefix <prefix>
//			addrs <host:port>...
//			master_name <name>
//			tls
//			timeout <duration>
//		}
//		keys <secrets or placeholder>
//		email ses {
//			region <region>
//			from <address>
//			configuration_set <name>
//			endpoint <url>
//			rate <per second>
//		}
//		email outbox <dir>
//		sms sns {
//			region <region>
//			sender_id <id>
//			max_price <usd>
//			endpoint <url>
//		}
//		sms outbox <dir>
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
			case "redis":
				if err := a.unmarshalRedis(d); err != nil {
					return err
				}
			default:
				return d.Errf("unknown store %q (use: store file <path>, or store redis <url> { ... })", kind)
			}
		case "email":
			if err := a.unmarshalEmail(d); err != nil {
				return err
			}
		case "sms":
			if err := a.unmarshalSMS(d); err != nil {
				return err
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

func (a *App) unmarshalEmail(d *caddyfile.Dispenser) error {
	if a.Email != nil {
		return d.Err("email given twice")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	e := &EmailConfig{Via: d.Val()}
	a.Email = e
	switch e.Via {
	case "outbox":
		if !d.AllArgs(&e.Dir) {
			return d.ArgErr()
		}
		return nil
	case "ses":
		if d.NextArg() {
			return d.ArgErr()
		}
	default:
		return d.Errf("unknown email sender %q (use: email ses { ... } or email outbox <dir>)", e.Via)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "region":
			dst = &e.Region
		case "from":
			dst = &e.From
		case "configuration_set":
			dst = &e.ConfigurationSet
		case "endpoint":
			dst = &e.Endpoint
		case "rate":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r <= 0 {
				return d.Errf("rate must be a positive number of messages per second, got %q", v)
			}
			e.Rate = r
			continue
		default:
			return d.Errf("unrecognized email ses option %q", d.Val())
		}
		if !d.AllArgs(dst) {
			return d.ArgErr()
		}
	}
	if e.From == "" {
		return d.Err("email ses needs a from address: from \"Acme Security <security@acme.example>\"")
	}
	return nil
}

func (a *App) unmarshalSMS(d *caddyfile.Dispenser) error {
	if a.SMS != nil {
		return d.Err("sms given twice")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	m := &SMSConfig{Via: d.Val()}
	a.SMS = m
	switch m.Via {
	case "outbox":
		if !d.AllArgs(&m.Dir) {
			return d.ArgErr()
		}
		return nil
	case "sns":
		if d.NextArg() {
			return d.ArgErr()
		}
	default:
		return d.Errf("unknown sms sender %q (use: sms sns { ... } or sms outbox <dir>)", m.Via)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "region":
			dst = &m.Region
		case "sender_id":
			dst = &m.SenderID
		case "max_price":
			dst = &m.MaxPrice
		case "endpoint":
			dst = &m.Endpoint
		default:
			return d.Errf("unrecognized sms sns option %q", d.Val())
		}
		if !d.AllArgs(dst) {
			return d.ArgErr()
		}
	}
	return nil
}

func (h *Handler) unmarshalLimits(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	l := &Limits{}
	h.Limits = l
	intArg := func(dst *int) error {
		var v string
		if !d.NextArg() {
			return d.ArgErr()
		}
		v = d.Val()
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return d.Errf("%s: want a positive whole number, got %q", d.Val(), v)
		}
		*dst = n
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "code_lifetime":
			l.CodeLifetime, err = durationArg(d)
		case "code_attempts":
			err = oneArg(d, intArg, &l.CodeAttempts)
		case "email_per_hour":
			err = oneArg(d, intArg, &l.EmailPerHour)
		case "sms_per_hour":
			err = oneArg(d, intArg, &l.SMSPerHour)
		case "sms_per_day":
			err = oneArg(d, intArg, &l.SMSPerDay)
		case "email_cooldown":
			l.EmailCooldown, err = durationArg(d)
		case "sms_cooldown":
			l.SMSCooldown, err = durationArg(d)
		case "user_failures":
			if err = intArg(&l.UserFailures); err == nil {
				l.UserWindow, err = durationArg(d)
			}
		case "ip_failures":
			if err = intArg(&l.IPFailures); err == nil {
				l.IPWindow, err = durationArg(d)
			}
		default:
			return d.Errf("unrecognized limits option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// oneArg reads exactly one argument with read.
func oneArg(d *caddyfile.Dispenser, read func(*int) error, dst *int) error {
	if err := read(dst); err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func (a *App) unmarshalRedis(d *caddyfile.Dispenser) error {
	sc := &StoreConfig{Backend: "redis"}
	a.Store = sc
	if d.NextArg() {
		sc.URL = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "key_prefix":
			if !d.AllArgs(&sc.KeyPrefix) {
				return d.ArgErr()
			}
		case "addrs":
			sc.Addrs = append(sc.Addrs, d.RemainingArgs()...)
			if len(sc.Addrs) == 0 {
				return d.ArgErr()
			}
		case "master_name":
			if !d.AllArgs(&sc.MasterName) {
				return d.ArgErr()
			}
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			sc.TLS = true
		case "timeout":
			t, err := durationArg(d)
			if err != nil {
				return err
			}
			sc.Timeout = t
		default:
			return d.Errf("unrecognized store redis option %q", d.Val())
		}
	}
	if sc.URL == "" && len(sc.Addrs) == 0 {
		return d.Err("store redis needs a URL (redis://host:6379/0) or addrs")
	}
	return nil
}
