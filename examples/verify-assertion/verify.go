// Command verify-assertion is what an app behind caddy2fa does with the
// signed assertion: it refuses every request whose X-TwoFactor-Assertion
// is missing, forged, expired or for another app.
//
//	verify-assertion -jwks https://app.example.com/.2fa/.well-known/jwks.json \
//	    -issuer https://app.example.com -audience legacy-app -listen 127.0.0.1:9000
package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are what the gateway says of the request's user.
type Claims struct {
	jwt.Claims
	AuthTime      int64    `json:"auth_time"`
	AMR           []string `json:"amr"`
	TrustedDevice bool     `json:"trusted_device"`
}

// Verifier checks assertions against the gateway's published keys.
type Verifier struct {
	Keys     jose.JSONWebKeySet
	Issuer   string
	Audience string
	Now      func() time.Time
}

// Check verifies a token: our algorithms only (never "none" or HMAC), a
// key of the set, the issuer, the audience and the time.
func (v *Verifier) Check(token string) (*Claims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := tok.Claims(v.Keys, &c); err != nil {
		return nil, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: now()}, 5*time.Second); err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("no subject")
	}
	return &c, nil
}

type userKey struct{}

// Require lets only requests with a valid assertion reach next, with the
// claims in the context.
func (v *Verifier) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Check(r.Header.Get("X-TwoFactor-Assertion"))
		if err != nil {
			http.Error(w, "not through the two-factor gateway", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, c)))
	})
}

// User is the verified user of a request that passed Require.
func User(r *http.Request) *Claims { c, _ := r.Context().Value(userKey{}).(*Claims); return c }
