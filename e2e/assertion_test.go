package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// assertionCaddyfile signs an assertion for the app, and asks for a
// fresh code on /admin/* and /payroll.
const assertionCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		store file {DIR}/2fa.db
		realm default {
			policy {
				enforce
				methods totp
				remember 30d
			}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		site_url http://127.0.0.1:{PORT}
		bypass /healthz /static/*
		fresh 10m /admin/* /payroll
		assertion {
			audience legacy-app
		}
	}
	reverse_proxy {APP}
}
`

// lastHeader is a header of the newest request the app received.
func (d *demoApp) lastHeader(name string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) == 0 {
		return "", false
	}
	v, ok := d.seen[len(d.seen)-1].Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return strings.Join(v, ","), true
}

const assertionHeader = "X-TwoFactor-Assertion"

func TestAssertionReachesTheAppSignedAndClientCopiesNever(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(assertionCaddyfile, app))
	c := newClient(t, cp.URL)
	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."

	// Anonymous and bypass requests: no assertion, and the client's is gone.
	for _, path := range []string{"/healthz", "/login"} {
		c.get(path, assertionHeader, forged)
		if v, ok := app.lastHeader(assertionHeader); ok {
			t.Fatalf("%s reached the app with an assertion %q", path, v)
		}
	}
	var step int64
	enrollAuthenticator(t, c, "alice", "alice-demo", &step)
	if r := c.get("/reports", assertionHeader, forged); !reachedApp(r, "alice") {
		t.Fatalf("verified: %d", r.status)
	}
	token, ok := app.lastHeader(assertionHeader)
	if !ok || token == forged || strings.Contains(token, ",") {
		t.Fatalf("the app got assertion %q", token)
	}

	// The JWKS, from the site and from Caddy's admin endpoint.
	jwksResp := c.get("/.2fa/.well-known/jwks.json")
	if jwksResp.status != http.StatusOK || !strings.Contains(jwksResp.header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("JWKS: %d %v", jwksResp.status, jwksResp.header)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwksResp.body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS body %s: %v", jwksResp.body, err)
	}
	adminResp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/twofactor/jwks", cp.admin))
	if err != nil {
		t.Fatal(err)
	}
	var all jose.JSONWebKeySet
	json.NewDecoder(adminResp.Body).Decode(&all)
	adminResp.Body.Close()
	if len(all.Key(set.Keys[0].KeyID)) != 1 {
		t.Fatalf("the admin endpoint's JWKS lacks the site's key %s", set.Keys[0].KeyID)
	}

	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		jwt.Claims
		AMR           []string `json:"amr"`
		AuthTime      int64    `json:"auth_time"`
		TrustedDevice bool     `json:"trusted_device"`
		Realm         string   `json:"realm"`
	}
	if err := tok.Claims(set, &claims); err != nil {
		t.Fatalf("the assertion does not verify with the JWKS: %v", err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: cp.URL, AnyAudience: jwt.Audience{"legacy-app"}, Subject: "alice", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(claims.AMR, " ") != "otp mfa" || claims.AuthTime == 0 || claims.TrustedDevice || claims.Realm != "default" {
		t.Fatalf("claims: %+v", claims)
	}
}

func TestStepUpPathAsksATrustedDeviceForAFreshCode(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(assertionCaddyfile, app))
	c := newClient(t, cp.URL)
	c.login("bob", "bob-demo", "/reports")
	page, at := c.follow("/reports")
	if at != "/.2fa/enroll/totp" {
		t.Fatalf("after login: %s", at)
	}
	var step int64
	key := htmltest.Text(page.body, "totp-key")
	action, csrf, _ := htmltest.CodeForm(t, page.body)
	r := c.savedRecoveryCodes(c.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {nextStepCode(t, key, &step)}, "remember": {"1"}}))
	if r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("enrollment: %d %q", r.status, r.location)
	}
	// A fresh code: the step-up path is open.
	if r := c.get("/payroll"); r.status == http.StatusFound {
		t.Fatalf("the step-up path right after a code: %d %q", r.status, r.location)
	}
	// A new app session on the trusted device passes without a code, but
	// not on a step-up path, however it is spelled.
	c.get("/logout")
	c.login("bob", "bob-demo", "/reports")
	if r := c.get("/reports"); !reachedApp(r, "bob") {
		t.Fatalf("the trusted device: %d %q", r.status, r.location)
	}
	hits := app.hits.Load()
	for _, path := range []string{"/payroll", "/admin/users", "/ADMIN/users", "/static/..;/admin/users", "/static/%2e%2e/admin/users"} {
		if r := c.get(path); r.status != http.StatusFound || r.location != "/.2fa/verify" {
			t.Errorf("%s from a trusted device: %d %q, want a step-up", path, r.status, r.location)
		}
	}
	if r := c.get("/payroll", "Accept", "application/json"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"step_up_required"`) {
		t.Errorf("an API call to a step-up path: %d %s", r.status, r.body)
	}
	if leaked := app.requestsSince(hits); len(leaked) > 0 {
		t.Fatalf("step-up requests reached the app: %v", leaked)
	}
	// The code, and back to the path asked last.
	c.get("/payroll")
	page, at = c.follow("/.2fa/verify")
	if at != "/.2fa/verify/totp" {
		t.Fatalf("the step-up asks at %s", at)
	}
	if r := c.submitCode(page, nextStepCode(t, key, &step)); r.status != http.StatusSeeOther || r.location != "/payroll" {
		t.Fatalf("after the step-up code: %d %q", r.status, r.location)
	}
	if r := c.get("/admin/users"); r.status == http.StatusFound {
		t.Fatalf("a fresh code, still asked: %q", r.location)
	}
}
