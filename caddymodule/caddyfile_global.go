package caddymodule

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

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
//		store <module> ...
//		keys <secrets or placeholder>
//		email ses {
//			region <region>
//			from <address>
//			configuration_set <name>
//			endpoint <url>
//			rate <per second>
//		}
//		email outbox <dir>
//		email <module> ...
//		sms sns {
//			region <region>
//			sender_id <id>
//			max_price <usd>
//			endpoint <url>
//		}
//		sms outbox <dir>
//		sms <module> ...
//		mail_queue {
//			lease <duration>
//			max_attempts <n>
//			backoff <duration>
//		}
//		locales <dir>
//		realm <name> {
//			issuer <name>
//			admin_permission <group>
//			policy {
//				enforce [immediately]
//				methods totp [email] [sms]
//				remember <duration>
//			}
//			sms_countries <calling code>...
//			phone_region <region>
//			enforce_immediately
//		}
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
	return httpcaddyfile.App{Name: "twofactor", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the global options block.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch opt := d.Val(); opt {
		case "store":
			a.StoreRaw, err = unmarshalGuest(d, "twofactor.storage.", "backend", a.StoreRaw)
		case "email":
			a.EmailRaw, err = unmarshalGuest(d, "twofactor.senders.email.", "via", a.EmailRaw)
		case "sms":
			a.SMSRaw, err = unmarshalGuest(d, "twofactor.senders.sms.", "via", a.SMSRaw)
		case "keys":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			a.Keys = strings.Join(args, " ")
		case "realm":
			err = a.unmarshalRealm(d)
		case "locales":
			err = oneString(d, &a.Locales)
		case "mail_queue":
			err = a.unmarshalMailQueue(d)
		default:
			return d.Errf("unrecognized twofactor global option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalGuest reads "<option> <module> ..." into the JSON of the
// module namespace+name, its name under key.
func unmarshalGuest(d *caddyfile.Dispenser, namespace, key string, was json.RawMessage) (json.RawMessage, error) {
	opt := d.Val()
	if was != nil {
		return nil, d.Errf("%s given twice", opt)
	}
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, namespace+name)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, key, name, nil), nil
}

// unmarshalRealm reads "realm <name> { ... }".
func (a *App) unmarshalRealm(d *caddyfile.Dispenser) error {
	var name string
	if !d.AllArgs(&name) {
		return d.ArgErr()
	}
	if a.Realms == nil {
		a.Realms = map[string]*RealmConfig{}
	}
	if a.Realms[name] != nil {
		return d.Errf("realm %s given twice", name)
	}
	r := &RealmConfig{}
	a.Realms[name] = r
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "webauthn":
			if err := unmarshalWebAuthn(d, r); err != nil {
				return err
			}
			continue
		case "language":
			if err := oneString(d, &r.Language); err != nil {
				return err
			}
			continue
		}
		known, err := unmarshalRealmSetting(d, r)
		if !known {
			return d.Errf("unrecognized realm option %q (issuer, admin_permission, policy, sms_countries, phone_region, enforce_immediately, webauthn, language)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*App)(nil)
