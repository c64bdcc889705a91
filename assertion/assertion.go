// Package assertion signs what the gateway tells the app about a
// request: a short-lived JWT (compact JWS) naming the user and how they
// passed two-factor authentication, with the keys published as a JWKS, so
// the app can refuse a request that did not come through the gateway.
package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy2fa/caddy2fa/keyring"
)

// Config is one site's assertion; zero values take the defaults noted.
type Config struct {
	// Issuer is the iss claim: the site's URL.
	Issuer string
	// Audience is the aud claim: who the token is for (required).
	Audience []string
	// Lifetime of a token.
	Lifetime time.Duration // default 60s
	// Algorithm: "ES256" (default) or "EdDSA".
	Algorithm string
	// Claims adds these of the user's details: email, name, groups.
	Claims []string
	Realm  string
	// Now is the clock (tests set it).
	Now func() time.Time
}

// DefaultLifetime is how long a token is good for.
const DefaultLifetime = 60 * time.Second

// Validate reports a configuration no verifier could use.
func (c Config) Validate() error {
	if len(c.Audience) == 0 {
		return errors.New("assertion: name the audience (the app the tokens are for)")
	}
	if c.Lifetime != 0 && (c.Lifetime < 10*time.Second || c.Lifetime > time.Hour) {
		return fmt.Errorf("assertion lifetime %v: use 10s to 1h", c.Lifetime)
	}
	switch c.Algorithm {
	case "", "ES256", "EdDSA":
	default:
		return fmt.Errorf("assertion algorithm %q: use ES256 or EdDSA", c.Algorithm)
	}
	for _, cl := range c.Claims {
		if !slices.Contains([]string{"email", "name", "groups"}, cl) {
			return fmt.Errorf("assertion claim %q: use email, name or groups", cl)
		}
	}
	return nil
}

// Pass is what a verified request carries onward.
type Pass struct {
	User   string
	Email  string
	Name   string
	Groups []string
	// AppSession is the app's session (hashed into sid, never sent).
	AppSession string
	// Passed is when the user passed 2FA; Method how (a method name of
	// package policy, "" when not known); TrustedDevice whether the pass
	// came from a remembered device.
	Passed        time.Time
	Method        string
	TrustedDevice bool
}

// Signer makes the tokens of one site, with a key of each secret of the
// ring (the primary signs; the others stay published for their tokens).
type Signer struct {
	cfg    Config
	alg    jose.SignatureAlgorithm
	signer jose.Signer
	jwks   []byte
	cache  *tokenCache
	seeds  [2]maphash.Seed
}

// New derives the signing keys from the ring.
func New(ring *keyring.Ring, cfg Config) (*Signer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	alg := jose.ES256
	if cfg.Algorithm == "EdDSA" {
		alg = jose.EdDSA
	}
	keys, err := signingKeys(ring, alg)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: keys[0]}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	jwks, err := json.Marshal(publicSet(keys))
	if err != nil {
		return nil, err
	}
	return &Signer{cfg: cfg, alg: alg, signer: signer, jwks: jwks, cache: newTokenCache(100_000), seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}, nil
}

// signingKeys are the ring's keys for alg, primary first, each named by
// its RFC 7638 thumbprint.
func signingKeys(ring *keyring.Ring, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	var out []jose.JSONWebKey
	for _, seed := range ring.Seeds("assertion-"+string(alg), 32) {
		priv, err := keyFrom(alg, seed)
		if err != nil {
			return nil, err
		}
		jwk := jose.JSONWebKey{Key: priv, Algorithm: string(alg), Use: "sig"}
		pub := jwk.Public()
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, err
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		out = append(out, jwk)
	}
	return out, nil
}

func publicSet(keys []jose.JSONWebKey) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public())
	}
	return set
}

// PublicKeys is the JWKS of every key the ring can sign with, in both
// algorithms: what the operator's admin endpoint publishes.
func PublicKeys(ring *keyring.Ring) ([]byte, error) {
	var all []jose.JSONWebKey
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA} {
		keys, err := signingKeys(ring, alg)
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
	}
	return json.Marshal(publicSet(all))
}

// keyFrom makes a private key from 32 derived bytes.
func keyFrom(alg jose.SignatureAlgorithm, seed []byte) (crypto.Signer, error) {
	if alg == jose.EdDSA {
		return ed25519.NewKeyFromSeed(seed), nil
	}
	// A scalar of 0 or past the group order is refused (once in 2^32):
	// hash the seed on until one is not.
	for range 8 {
		if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed); err == nil {
			return k, nil
		}
		sum := sha256.Sum256(seed)
		seed = sum[:]
	}
	return nil, errors.New("assertion: no signing key from the secret")
}

// JWKS is the public keys, for /.well-known/jwks.json.
func (s *Signer) JWKS() []byte { return s.jwks }

// Lifetime is how long a token is good for.
func (s *Signer) Lifetime() time.Duration { return s.cfg.Lifetime }

type claims struct {
	jwt.Claims
	Realm         string   `json:"realm,omitempty"`
	AuthTime      int64    `json:"auth_time,omitempty"`
	AMR           []string `json:"amr"`
	TrustedDevice bool     `json:"trusted_device"`
	SID           string   `json:"sid,omitempty"`
	Email         string   `json:"email,omitempty"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

// amr names how the user passed, by RFC 8176.
var amr = map[string][]string{
	"totp": {"otp", "mfa"}, "sms": {"sms", "mfa"}, "email": {"mail", "mfa"},
	"webauthn": {"hwk", "mfa"}, "recovery": {"otp", "mfa"},
}

// Token is the pass as a signed token. A token is reused for the same
// session while at least half of its life is left, so a busy session
// costs one signature per half lifetime, not one per request.
func (s *Signer) Token(p Pass) (string, error) {
	now := s.cfg.Now()
	key := s.cacheKey(p)
	if tok, ok := s.cache.get(key, now.Add(s.cfg.Lifetime/2).Unix()); ok {
		return tok, nil
	}
	c := claims{
		Claims: jwt.Claims{
			Issuer: s.cfg.Issuer, Subject: p.User, Audience: s.cfg.Audience, ID: randomID(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), Expiry: jwt.NewNumericDate(now.Add(s.cfg.Lifetime)),
		},
		Realm: s.cfg.Realm, TrustedDevice: p.TrustedDevice, AMR: []string{"mfa"},
	}
	if m, ok := amr[p.Method]; ok {
		c.AMR = m
	}
	if !p.Passed.IsZero() {
		c.AuthTime = p.Passed.Unix()
	}
	if p.AppSession != "" {
		sum := sha256.Sum256([]byte(s.cfg.Realm + "\x00" + p.AppSession))
		c.SID = base64.RawURLEncoding.EncodeToString(sum[:16])
	}
	for _, cl := range s.cfg.Claims {
		switch cl {
		case "email":
			c.Email = p.Email
		case "name":
			c.Name = p.Name
		case "groups":
			c.Groups = p.Groups
		}
	}
	tok, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", err
	}
	s.cache.put(key, tok, c.Expiry.Time().Unix())
	return tok, nil
}

// cacheKey stands for everything a token says of the pass: a 128-bit
// keyed hash (two random per-process seeds), nothing to aim a collision at.
func (s *Signer) cacheKey(p Pass) [16]byte {
	var k [16]byte
	for i, seed := range s.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		for _, part := range [...]string{p.User, p.AppSession, p.Method, p.Email, p.Name} {
			h.WriteString(part)
			h.WriteByte(0xff)
		}
		for _, g := range p.Groups {
			h.WriteString(g)
			h.WriteByte(0)
		}
		var n [9]byte
		binary.LittleEndian.PutUint64(n[:], uint64(p.Passed.Unix()))
		if p.TrustedDevice {
			n[8] = 1
		}
		h.Write(n[:])
		binary.LittleEndian.PutUint64(k[8*i:], h.Sum64())
	}
	return k
}
