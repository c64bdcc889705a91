package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/policy"
)

// WebAuthnConfig tunes a realm's passkeys and security keys. Each site
// binds keys to its site_url, which this method needs.
type WebAuthnConfig struct {
	// RPID is the domain keys are bound to. Default: each site's host; a
	// parent domain lets sites on its subdomains share the keys.
	RPID string `json:"rp_id,omitempty"`
	// UserVerification: required, preferred or discouraged. Default
	// preferred (a PIN or biometrics when the key has them).
	UserVerification string `json:"user_verification,omitempty"`
	// Attestation: none, indirect, direct or enterprise. Default none.
	Attestation string `json:"attestation,omitempty"`
	// NoSynced refuses synced passkeys (keys copied between devices by a
	// cloud account): only device-bound keys. Default: both.
	NoSynced bool `json:"no_synced,omitempty"`
	// AAGUIDs are the only authenticator models accepted. Default: any.
	AAGUIDs []string `json:"aaguids,omitempty"`
	// RelatedOrigins are origins of the realm's sites on other domains
	// than RPID, served by RPID's own site at /.well-known/webauthn so
	// browsers let those sites use the realm's passkeys. Default: none.
	RelatedOrigins []string `json:"related_origins,omitempty"`
}

func (c *WebAuthnConfig) options() passkey.Options {
	if c == nil {
		return passkey.Options{}
	}
	return passkey.Options{UserVerification: c.UserVerification, Attestation: c.Attestation, NoSynced: c.NoSynced, AAGUIDs: c.AAGUIDs}
}

func (c *WebAuthnConfig) rpID() (string, []string) {
	if c == nil {
		return "", nil
	}
	return c.RPID, c.RelatedOrigins
}

// unmarshalWebAuthn reads "webauthn { ... }" of a realm block.
func unmarshalWebAuthn(d *caddyfile.Dispenser, r *RealmConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &WebAuthnConfig{}
	r.WebAuthn = c
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "rp_id":
			if err := oneString(d, &c.RPID); err != nil {
				return err
			}
		case "user_verification":
			if err := oneString(d, &c.UserVerification); err != nil {
				return err
			}
		case "attestation":
			if err := oneString(d, &c.Attestation); err != nil {
				return err
			}
		case "allow_synced":
			var v string
			if err := oneString(d, &v); err != nil {
				return err
			}
			if v != "true" && v != "false" {
				return d.Errf("allow_synced takes true or false, not %q", v)
			}
			c.NoSynced = v == "false"
		case "aaguids":
			if c.AAGUIDs = d.RemainingArgs(); len(c.AAGUIDs) == 0 {
				return d.ArgErr()
			}
		case "related_origins":
			if c.RelatedOrigins = d.RemainingArgs(); len(c.RelatedOrigins) == 0 {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized webauthn option %q (rp_id, user_verification, attestation, allow_synced, aaguids, related_origins)", d.Val())
		}
	}
	return c.options().Validate()
}

// relyingParty is the site's passkey relying party; nil when the site has
// no site_url browsers bind keys to. A realm whose policy names passkeys
// needs one on every site.
func (h *Handler) relyingParty(cfg *RealmConfig, org string) (*passkey.RP, error) {
	var rp *passkey.RP
	var err error
	if h.SiteURL != "" {
		rpID, related := cfg.WebAuthn.rpID()
		rp, err = passkey.New(passkey.Config{SiteURL: h.SiteURL, RPID: rpID, Related: related, Name: org, Options: cfg.WebAuthn.options()})
	} else {
		err = policy.ErrWebAuthnUnavailable
	}
	if err != nil && cfg.initialPolicy().Allows(policy.MethodWebAuthn) {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	return rp, nil
}
