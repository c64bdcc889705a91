package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// demoApp is the legacy app on 127.0.0.1, counting what reaches it.
type demoApp struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	seen []*http.Request
}

func startDemoApp(t *testing.T) *demoApp { return startDemoAppWith(t, legacyapp.Options{}, nil) }

// startDemoAppWith starts the legacy app with opts (OnRequest is ours),
// behind wrap when it is set (a server's own way with paths).
func startDemoAppWith(t *testing.T, opts legacyapp.Options, wrap func(http.Handler) http.Handler) *demoApp {
	d := &demoApp{}
	opts.OnRequest = func(r *http.Request) {
		d.hits.Add(1)
		d.mu.Lock()
		d.seen = append(d.seen, r.Clone(r.Context()))
		d.mu.Unlock()
	}
	var h http.Handler = legacyapp.New(opts)
	if wrap != nil {
		h = wrap(h)
	}
	d.srv = httptest.NewServer(h)
	t.Cleanup(d.srv.Close)
	return d
}

func (d *demoApp) addr() string { return strings.TrimPrefix(d.srv.URL, "http://") }

const lookupCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		store file {DIR}/2fa.db
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		policy {
			enforce
			methods totp
		}
		issuer "Acme Corp"
		bypass /healthz /static/*
	}
	reverse_proxy {APP}
}
`

func withApp(caddyfile string, app *demoApp) string {
	return strings.ReplaceAll(caddyfile, "{APP}", app.addr())
}

// login logs in to the legacy app through Caddy with its own form.
func (c *client) login(user, password, next string) resp {
	c.t.Helper()
	r := c.do(http.MethodPost, "/login", url.Values{"username": {user}, "password": {password}, "next": {next}})
	if r.status != http.StatusSeeOther {
		c.t.Fatalf("app login: %d %s", r.status, r.body)
	}
	return r
}

func (c *client) logout() {
	c.t.Helper()
	if r := c.do(http.MethodPost, "/logout", url.Values{}); r.status >= 400 && r.status != http.StatusFound {
		// A verified user's logout passes through to the app.
		c.t.Fatalf("app logout: %d", r.status)
	}
}

// submitCode posts the page's code form.
// savedRecoveryCodes passes the page that shows a first enrollment's
// recovery codes, as a user who saved them, and returns where it sends
// them on to. Any other answer is returned as it is.
func (c *client) savedRecoveryCodes(r resp) resp {
	c.t.Helper()
	if r.status != http.StatusSeeOther || r.location != "/.2fa/recovery-codes" {
		return r
	}
	page := c.get(r.location)
	if n := strings.Count(page.body, "<li><code>"); n != 10 {
		c.t.Fatalf("the recovery codes page shows %d codes, want 10:\n%s", n, page.body)
	}
	_, csrf, _ := htmltest.CodeForm(c.t, page.body)
	return c.do(http.MethodPost, "/.2fa/recovery-codes", url.Values{"csrf": {csrf}, "saved": {"1"}})
}

func (c *client) submitCode(page resp, code string) resp {
	c.t.Helper()
	action, csrf, inputs := htmltest.CodeForm(c.t, page.body)
	if inputs != 1 {
		c.t.Fatalf("code form must have exactly one input named code, has %d", inputs)
	}
	return c.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {code}})
}

func totpNow(t testing.TB, key string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(strings.ReplaceAll(key, " ", ""), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStepCode returns a code for a TOTP step after *lastStep: the
// gateway accepts one step ahead for clock drift, so a test waits only when
// it has used that one too.
func nextStepCode(t *testing.T, key string, lastStep *int64) string {
	t.Helper()
	for {
		now := time.Now().Unix() / 30
		if next := max(*lastStep+1, now); next <= now+1 {
			*lastStep = next
			return totpNow(t, key, time.Unix(next*30, 0))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestJourneyFirstLoginEnrollThenVerifyAfterNewLoginAndRestart(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(lookupCaddyfile, app))
	c := newClient(t, cp.URL)

	// A visitor who is not logged in reaches the app's login page untouched.
	page, at := c.follow("/reports")
	if !strings.HasPrefix(at, "/login") || !strings.Contains(page.body, `name="password"`) {
		t.Fatalf("anonymous visitor should see the app's login, got %s:\n%s", at, page.body)
	}

	// After logging in, the user is sent to enroll an authenticator.
	r := c.login("alice", "alice-demo", "/reports")
	if r.location != "/reports" {
		t.Fatalf("app login should return to /reports, got %q", r.location)
	}
	hitsBefore := app.hits.Load()
	r = c.get("/reports")
	if r.status != http.StatusFound || r.location != "/.2fa/" {
		t.Fatalf("logged-in, unenrolled user: want 302 /.2fa/, got %d %q", r.status, r.location)
	}
	page, at = c.follow("/.2fa/")
	if at != "/.2fa/enroll/totp" {
		t.Fatalf("want the TOTP enrollment page, got %s", at)
	}
	key := htmltest.Text(page.body, "totp-key")
	if key == "" || !strings.Contains(page.body, "data:image/png;base64,") || !strings.Contains(page.body, "otpauth://totp/") {
		t.Fatalf("enrollment page lacks key, QR code or otpauth link:\n%s", page.body)
	}
	// Only the who-am-I lookups reached the app meanwhile.
	for _, seen := range app.requestsSince(hitsBefore) {
		if seen != "/api/me" {
			t.Fatalf("unverified request reached the app: %s", seen)
		}
	}
	var step int64
	r = c.savedRecoveryCodes(c.submitCode(page, nextStepCode(t, key, &step)))
	if r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("enrollment: want 303 to /reports, got %d %q\n%s", r.status, r.location, r.body)
	}
	page = c.get("/reports")
	if page.status != 200 || htmltest.Text(page.body, "signed-in-as") != "Signed in as alice" {
		t.Fatalf("verified user should reach the app: %d\n%s", page.status, page.body)
	}
	if cookies := app.lastCookieHeader(); strings.Contains(cookies, "2fa_") {
		t.Errorf("the gateway's cookies leaked to the app: %q", cookies)
	}

	// A new app session asks for a code again: verification, not enrollment.
	c.logout()
	c.login("alice", "alice-demo", "/settings")
	page, at = c.follow("/settings")
	if at != "/.2fa/verify/totp" {
		t.Fatalf("new app session: want the verification page, got %s", at)
	}
	r = c.submitCode(page, nextStepCode(t, key, &step))
	if r.status != http.StatusSeeOther || r.location != "/settings" {
		t.Fatalf("verification: %d %q", r.status, r.location)
	}

	// Restarting Caddy loses nothing: the enrollment is in the store.
	cp.restart()
	c2 := newClient(t, cp.URL)
	c2.login("alice", "alice-demo", "/account")
	page, at = c2.follow("/account")
	if at != "/.2fa/verify/totp" {
		t.Fatalf("after restart: want verification (enrollment kept), got %s", at)
	}
	r = c2.submitCode(page, nextStepCode(t, key, &step))
	if r.status != http.StatusSeeOther || r.location != "/account" {
		t.Fatalf("verification after restart: %d %q", r.status, r.location)
	}
	if page := c2.get("/account"); htmltest.Text(page.body, "account-id") != "alice" {
		t.Fatalf("after restart the verified user should reach the app:\n%s", page.body)
	}
}

func (d *demoApp) requestsSince(n int64) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, r := range d.seen[n:] {
		out = append(out, r.URL.Path)
	}
	return out
}

func (d *demoApp) lastCookieHeader() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[len(d.seen)-1].Header.Get("Cookie")
}

func TestUnverifiedAPICallGets401JSONThroughCaddy(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(lookupCaddyfile, app))
	c := newClient(t, cp.URL)
	c.login("bob", "bob-demo", "/")
	before := app.hits.Load()
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		r := c.do(m, "/echo/api", url.Values{"x": {"1"}})
		var body map[string]string
		if r.status != http.StatusUnauthorized || json.Unmarshal([]byte(r.body), &body) != nil || body["challenge_url"] != "/.2fa/" {
			t.Fatalf("%s by unverified user: %d %s", m, r.status, r.body)
		}
	}
	for _, p := range app.requestsSince(before) {
		if p != "/api/me" {
			t.Fatalf("unverified request reached the app: %s", p)
		}
	}
}

func TestBypassPathsSkipTheChallengeOnlyWhenCleaned(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(lookupCaddyfile, app))
	c := newClient(t, cp.URL)
	c.login("bob", "bob-demo", "/")
	if r := c.get("/healthz"); r.status != 200 {
		t.Fatalf("bypass /healthz: %d", r.status)
	}
	if r := c.get("/static/app.css"); r.status != 200 {
		t.Fatalf("bypass /static/*: %d", r.status)
	}
	for _, p := range []string{"/static/../echo", "/static/..%2fecho", "/STATIC/x", "/echo?x=/static/", "/healthz/../echo"} {
		if r := c.get(p); r.status != http.StatusFound {
			t.Errorf("%s must be challenged, got %d", p, r.status)
		}
	}
}

// The JSON form is the real config: run Caddy from JSON alone.
func TestJSONConfigRuns(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	ports := freePorts(t, 2)
	port, admin := ports[0], ports[1]
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "127.0.0.1:%d"},
	"apps": {
		"twofactor": {"store": {"backend": "file", "path": %q}},
		"http": {"servers": {"s": {
			"listen": ["127.0.0.1:%d"],
			"routes": [{"handle": [
				{"handler": "twofactor",
				 "identity": {"lookup": {"url": "http://%s/api/me", "cookie": "legacy_session"}},
				 "policy": {"enforce": true, "methods": ["totp"]},
				 "issuer": "Acme Corp"},
				{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
			]}]
		}}}
	}
}`, admin, filepath.Join(dir, "2fa.db"), port, app.addr(), app.addr())
	path := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &caddyProc{t: t, dir: dir, port: port, admin: admin, config: path, adapter: "json"}
	p.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	p.start()
	t.Cleanup(p.stop)
	c := newClient(t, p.URL)
	c.login("carol", "carol-demo", "/")
	if _, at := c.follow("/"); at != "/.2fa/enroll/totp" {
		t.Fatalf("JSON config: want enrollment, got %s", at)
	}
}
