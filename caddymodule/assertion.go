package caddymodule

import (
	"cmp"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/assertion"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/keyring"
)

// AssertionConfig signs, in a header to the app, who each verified request
// is and how they passed (a JWT the app checks against the JWKS at
// {path_prefix}/.well-known/jwks.json).
type AssertionConfig struct {
	// Header carries the token. Default "X-TwoFactor-Assertion".
	Header string `json:"header,omitempty"`
	// Audience is the aud claim, naming the app. Default: none (required).
	Audience []string `json:"audience"`
	// Lifetime of a token, 10s to 1h. Default 60s.
	Lifetime caddy.Duration `json:"lifetime,omitempty"`
	// Algorithm: ES256 or EdDSA. Default ES256.
	Algorithm string `json:"algorithm,omitempty"`
	// Claims adds the user's email, name or groups. Default: none.
	Claims []string `json:"claims,omitempty"`
}

// DefaultAssertionHeader carries the token by default.
const DefaultAssertionHeader = "X-TwoFactor-Assertion"

// header is the header's name in the canonical form Header's map keys
// take ("X-Twofactor-Assertion").
func (c *AssertionConfig) header() string {
	return textproto.CanonicalMIMEHeaderKey(cmp.Or(c.Header, DefaultAssertionHeader))
}

// signer is the site's assertion signer; nil when the site has none.
func (h *Handler) signer(realm string, ring *keyring.Ring) (*assertion.Signer, error) {
	c := h.Assertion
	if c == nil {
		return nil, nil
	}
	return assertion.New(ring, assertion.Config{
		Issuer: h.SiteURL, Audience: c.Audience, Lifetime: time.Duration(c.Lifetime), Algorithm: c.Algorithm, Claims: c.Claims, Realm: realm,
	})
}

// validateAssertion checks the block without keys.
func (c *AssertionConfig) validate(siteURL string) error {
	if c == nil {
		return nil
	}
	if siteURL == "" {
		return fmt.Errorf("assertion: set site_url, the tokens' issuer")
	}
	return assertion.Config{Audience: c.Audience, Lifetime: time.Duration(c.Lifetime), Algorithm: c.Algorithm, Claims: c.Claims}.Validate()
}

// assert sets the request's assertion header: never a client's copy, and
// a token only for a user who passed 2FA, with a code or on a trusted
// device (not on bypass paths, not for anonymous requests, not for app
// sessions carried over from before 2FA was on, or while it is off).
func (h *Handler) assert(r *http.Request, p *siteParts, v gate.Verdict) error {
	if h.Assertion == nil {
		return nil
	}
	name := h.assertHeader
	// Every spelling: PHP reads X-Twofactor_Assertion as the real one
	// (Caddy drops such headers too, unless the server allows them).
	h.assertSpellings.Delete(r.Header)
	passed := v.Passed.At > 0 || v.Passed.TrustedDevice
	if p.signer == nil || v.Bypassed || !v.Identity.Known() || !passed || v.Passed.Carried {
		return nil
	}
	id := v.Identity
	tok, err := p.signer.Token(assertion.Pass{
		User: id.ID, Email: id.Email, Name: id.Name, Groups: id.Groups, AppSession: id.AppSession,
		Passed: time.Unix(v.Passed.At, 0), Method: v.Passed.Method, TrustedDevice: v.Passed.TrustedDevice,
	})
	if err != nil {
		return err
	}
	r.Header[name] = []string{tok}
	return nil
}

// jwksHandler publishes the signing keys; they change only with the keys
// option, so caches may keep them a while.
func jwksHandler(jwks []byte, lifetime time.Duration) http.Handler {
	maxAge := int(max(lifetime, 5*time.Minute) / time.Second)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
		w.Write(jwks)
	})
}

// unmarshalAssertion reads "assertion { header; audience; lifetime;
// algorithm; claims }".
func unmarshalAssertion(d *caddyfile.Dispenser, h *Handler) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &AssertionConfig{}
	h.Assertion = c
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "header":
			err = oneString(d, &c.Header)
		case "algorithm":
			err = oneString(d, &c.Algorithm)
		case "lifetime":
			c.Lifetime, err = durationArg(d)
		case "audience", "claims":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if opt == "audience" {
				c.Audience = args
			} else {
				c.Claims = args
			}
		default:
			return d.Errf("unrecognized assertion option %q (header, audience, lifetime, algorithm, claims)", strings.ToLower(opt))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
