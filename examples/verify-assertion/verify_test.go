package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy2fa/caddy2fa/assertion"
	"github.com/caddy2fa/caddy2fa/keyring"
)

const issuer = "https://app.acme.example"

// gateway signs as caddy2fa does, and the verifier takes its JWKS.
func gateway(t *testing.T, now *time.Time) (*assertion.Signer, *Verifier) {
	t.Helper()
	ring, err := keyring.Parse(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	s, err := assertion.New(ring, assertion.Config{Issuer: issuer, Audience: []string{"legacy-app"}, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Issuer: issuer, Audience: "legacy-app", Now: func() time.Time { return *now }}
	if err := json.Unmarshal(s.JWKS(), &v.Keys); err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestExampleVerifiesTheGatewaysTokenAndRefusesTheRest(t *testing.T) {
	now := time.Now()
	s, v := gateway(t, &now)
	good, err := s.Token(assertion.Pass{User: "alice", Passed: now, Method: "totp"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Check(good); err != nil || c.Subject != "alice" {
		t.Fatalf("the gateway's token: %+v %v", c, err)
	}

	wrongAudience := *v
	wrongAudience.Audience = "other-app"
	if _, err := wrongAudience.Check(good); err == nil {
		t.Error("a token for another app was accepted")
	}
	later := now.Add(assertion.DefaultLifetime + time.Minute)
	expired := *v
	expired.Now = func() time.Time { return later }
	if _, err := expired.Check(good); err == nil {
		t.Error("an expired token was accepted")
	}

	// Another key, with the gateway's kid even.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kid := v.Keys.Keys[0].KeyID
	forger, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	forged, _ := jwt.Signed(forger).Claims(jwt.Claims{Issuer: issuer, Subject: "alice", Audience: jwt.Audience{"legacy-app"}, Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if _, err := v.Check(forged); err == nil {
		t.Error("a token signed by another key was accepted")
	}

	// alg none: the gateway's claims, no signature.
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	if _, err := v.Check(none); err == nil {
		t.Error(`a token with "alg": "none" was accepted`)
	}
}

// A client that reaches the app directly (around the gateway) and sends a
// header of its own is refused.
func TestExampleRefusesAHeaderFromAClient(t *testing.T) {
	now := time.Now()
	_, v := gateway(t, &now)
	app := httptest.NewServer(v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello " + User(r).Subject))
	})))
	defer app.Close()
	for _, header := range []string{"", "alice", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."} {
		req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
		if header != "" {
			req.Header.Set("X-TwoFactor-Assertion", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a direct request with assertion %q: %d, want 401", header, resp.StatusCode)
		}
	}
}
