package assertion

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy2fa/caddy2fa/keyring"
)

func ring(t testing.TB, secrets ...string) *keyring.Ring {
	t.Helper()
	var raw [][]byte
	for _, s := range secrets {
		raw = append(raw, []byte(strings.Repeat(s, 32)))
	}
	r, err := keyring.New(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var passed = time.Unix(1_800_000_000, 0)

func signer(t testing.TB, r *keyring.Ring, alg string, now *time.Time) *Signer {
	t.Helper()
	s, err := New(r, Config{Issuer: "https://app.acme.example", Audience: []string{"legacy-app"}, Algorithm: alg, Claims: []string{"email", "groups"}, Realm: "default",
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verify(t *testing.T, jwks []byte, token string, at time.Time) (claims, error) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	var c claims
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil {
		return c, err
	}
	if err := tok.Claims(set, &c); err != nil {
		return c, err
	}
	return c, c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: "https://app.acme.example", AnyAudience: jwt.Audience{"legacy-app"}, Time: at}, 0)
}

func TestTokenSaysWhoPassedAndHowAndVerifiesWithTheJWKS(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		now := passed.Add(time.Minute)
		s := signer(t, ring(t, "a"), alg, &now)
		tok, err := s.Token(Pass{User: "alice", Email: "alice@acme.example", Name: "Alice", Groups: []string{"staff"}, AppSession: "app-1", Passed: passed, Method: "webauthn"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := verify(t, s.JWKS(), tok, now)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if c.Subject != "alice" || c.Realm != "default" || c.AuthTime != passed.Unix() || strings.Join(c.AMR, " ") != "hwk mfa" || c.TrustedDevice ||
			c.Email != "alice@acme.example" || c.Name != "" || len(c.Groups) != 1 || c.SID == "" || strings.Contains(tok, "app-1") || c.ID == "" {
			t.Fatalf("%s claims: %+v", alg, c)
		}
		if c.Expiry.Time().Sub(c.IssuedAt.Time()) != DefaultLifetime {
			t.Fatalf("%s lifetime: %v", alg, c.Expiry.Time().Sub(c.IssuedAt.Time()))
		}
		if _, err := verify(t, s.JWKS(), tok, now.Add(DefaultLifetime+time.Second)); err == nil {
			t.Fatalf("%s: an expired token verified", alg)
		}
	}
}

func TestTokenIsReusedForHalfItsLifeThenRenewed(t *testing.T) {
	now := passed
	s := signer(t, ring(t, "a"), "", &now)
	p := Pass{User: "alice", AppSession: "app-1", Passed: passed, Method: "totp"}
	first, _ := s.Token(p)
	now = now.Add(DefaultLifetime/2 - time.Second)
	if again, _ := s.Token(p); again != first {
		t.Fatal("a token was signed again within half its life")
	}
	if other, _ := s.Token(Pass{User: "alice", AppSession: "app-2", Passed: passed, Method: "totp"}); other == first {
		t.Fatal("another app session got the same token")
	}
	now = now.Add(2 * time.Second)
	renewed, _ := s.Token(p)
	if renewed == first {
		t.Fatal("a token past half its life was served again")
	}
	if c, err := verify(t, s.JWKS(), renewed, now); err != nil || c.Expiry.Time().Before(now.Add(DefaultLifetime-time.Second)) {
		t.Fatalf("the renewed token: %+v %v", c, err)
	}
}

func TestRotationSignsWithTheNewKeyAndKeepsTheOldPublished(t *testing.T) {
	now := passed
	old := signer(t, ring(t, "a"), "", &now)
	oldTok, _ := old.Token(Pass{User: "alice", Passed: passed})
	rotated := signer(t, ring(t, "b", "a"), "", &now)
	newTok, _ := rotated.Token(Pass{User: "alice", Passed: passed})
	var set jose.JSONWebKeySet
	json.Unmarshal(rotated.JWKS(), &set)
	if len(set.Keys) != 2 || set.Keys[0].KeyID == set.Keys[1].KeyID {
		t.Fatalf("the rotated JWKS has %d keys", len(set.Keys))
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := verify(t, rotated.JWKS(), tok, now); err != nil {
			t.Fatalf("the %s key's token does not verify with the rotated JWKS: %v", name, err)
		}
	}
	if _, err := verify(t, old.JWKS(), newTok, now); err == nil {
		t.Fatal("the new key's token verified with the old JWKS alone")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatal("the JWKS holds a private key")
		}
	}
}

func TestTrustedDevicePassSaysSo(t *testing.T) {
	now := passed
	s := signer(t, ring(t, "a"), "", &now)
	tok, _ := s.Token(Pass{User: "alice", TrustedDevice: true})
	c, err := verify(t, s.JWKS(), tok, now)
	if err != nil || !c.TrustedDevice || c.AuthTime != 0 || strings.Join(c.AMR, " ") != "mfa" {
		t.Fatalf("claims: %+v %v", c, err)
	}
}

func TestConfigurationsNoVerifierCouldUseAreRefused(t *testing.T) {
	for _, c := range []Config{
		{}, {Audience: []string{"x"}, Lifetime: time.Second}, {Audience: []string{"x"}, Algorithm: "HS256"},
		{Audience: []string{"x"}, Algorithm: "none"}, {Audience: []string{"x"}, Claims: []string{"password"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// The cost of an assertion on a verified request: a cached token, and a
// signature every half lifetime.
func BenchmarkToken(b *testing.B) {
	now := passed
	s := signer(b, ring(b, "a"), "", &now)
	p := Pass{User: "alice@acme.example", AppSession: "0123456789abcdef0123456789abcdef", Passed: passed, Method: "totp"}
	b.Run("cached", func(b *testing.B) {
		s.Token(p)
		for b.Loop() {
			s.Token(p)
		}
	})
	b.Run("signed", func(b *testing.B) {
		for b.Loop() {
			s.cache = newTokenCache(1)
			s.Token(p)
		}
	})
}
