package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// Attacks on 2FA gateways, through a real Caddy: none of them lets an
// identified but unverified user reach the app.

const attackCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
		email outbox {DIR}/outbox
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		policy {
			enforce
			methods totp email
		}
		issuer "Acme Corp"
		site_url http://app.acme.example
		bypass /healthz /static/*
	}
	reverse_proxy {APP}
}
`

func startAttackRig(t *testing.T) (*demoApp, *caddyProc, string) {
	app := startDemoApp(t)
	dir := t.TempDir()
	return app, startCaddy(t, dir, withApp(attackCaddyfile, app)), dir
}

// leaked lists the app paths reached since n, other than the identity
// lookup and the login it is allowed to see.
func (d *demoApp) leaked(n int64) []string {
	var out []string
	for _, p := range d.requestsSince(n) {
		if p != "/api/me" {
			out = append(out, p)
		}
	}
	return out
}

// rawRequest sends bytes as they are (paths Go's client would clean).
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, req)
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestForceBrowsingNeverReachesTheApp(t *testing.T) {
	app, cp, _ := startAttackRig(t)
	c := newClient(t, cp.URL)
	c.login("bob", "bob-demo", "/")
	var session string
	u, _ := url.Parse(cp.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "legacy_session" {
			session = ck.Value
		}
	}
	before := app.hits.Load()
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
		for _, p := range []string{"/reports", "/reports/q3?x=1", "/account", "/echo/deep/path"} {
			c.do(m, p, url.Values{"a": {"b"}})
		}
	}
	addr := strings.TrimPrefix(cp.URL, "http://")
	for _, target := range []string{"//reports", "/x/../reports", "/%2e%2e/reports", "/static/%2e%2e/reports", "/static%2f..%2freports", "/REPORTS", "/Static/../echo", "/reports%00", "/healthz/../echo", "/static/..%5cecho"} {
		status := rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: legacy_session="+session+"\r\nConnection: close\r\n\r\n")
		if strings.Contains(status, " 200 ") {
			t.Errorf("GET %s: %s", target, status)
		}
	}
	// A websocket upgrade is a GET too: challenged, never proxied.
	status := rawRequest(t, addr, "GET /echo/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: legacy_session="+session+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if strings.Contains(status, " 101 ") || strings.Contains(status, " 200 ") {
		t.Errorf("websocket upgrade: %s", status)
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("unverified requests reached the app: %v", leaked)
	}
}

func TestBypassSpoofingNeverSkipsTheChallenge(t *testing.T) {
	app, cp, _ := startAttackRig(t)
	c := newClient(t, cp.URL)
	c.login("bob", "bob-demo", "/")
	before := app.hits.Load()
	for _, tc := range []struct{ path, hdr, val string }{
		{"/reports?x=/static/", "", ""},
		{"/reports#/static/x", "", ""},
		{"/reports", "X-Forwarded-Uri", "/static/app.css"},
		{"/reports", "X-Original-URL", "/healthz"},
		{"/reports", "X-Rewrite-URL", "/static/x"},
		{"/reports", "User-Agent", "kube-probe/1.29"},
		{"/reports", "User-Agent", "ELB-HealthChecker/2.0"},
		{"/STATIC/x", "", ""},
	} {
		var r resp
		if tc.hdr != "" {
			r = c.get(tc.path, tc.hdr, tc.val)
		} else {
			r = c.get(tc.path)
		}
		if r.status != http.StatusFound {
			t.Errorf("%s %s=%s: %d", tc.path, tc.hdr, tc.val, r.status)
		}
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("spoofed bypass reached the app: %v", leaked)
	}
}

func TestOpenRedirectAfterVerificationStaysOnSite(t *testing.T) {
	_, cp, _ := startAttackRig(t)
	addr := strings.TrimPrefix(cp.URL, "http://")
	for _, target := range []string{"//evil.example/x", "/\\evil.example", "/%09/evil.example", "/%2F%2Fevil.example", "/.2fa/../\\evil.example"} {
		c := newClient(t, cp.URL)
		c.login("carol", "carol-demo", "/")
		var session string
		u, _ := url.Parse(cp.URL)
		for _, ck := range c.http.Jar.Cookies(u) {
			if ck.Name == "legacy_session" {
				session = ck.Value
			}
		}
		// The odd path is sent raw; the gate remembers where to return.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: legacy_session=%s\r\nConnection: close\r\n\r\n", target, session)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		for _, ck := range res.Cookies() {
			c.http.Jar.SetCookies(u, []*http.Cookie{ck})
		}
		loc := res.Header.Get("Location")
		if loc != "" && !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Fatalf("%s: first redirect leaves the site: %q", target, loc)
		}
	}
}

func TestHostAndProtoInjectionNeverMakeLinks(t *testing.T) {
	_, cp, dir := startAttackRig(t)
	c := newClient(t, cp.URL)
	c.login("alice", "alice-demo", "/")
	r := c.get("/reports", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https", "Forwarded", "host=evil.example")
	if r.status != http.StatusFound || strings.Contains(r.location, "evil") {
		t.Fatalf("redirect from injected headers: %d %q", r.status, r.location)
	}
	page, _ := c.follow("/.2fa/enroll/totp")
	if strings.Contains(page.body, "evil") {
		t.Fatal("the enrollment page carries an injected host")
	}
	// Emails link to site_url only.
	page, _ = c.follow("/.2fa/enroll/email")
	c.press(page, "/.2fa/enroll/email")
	raw, _ := os.ReadDir(filepath.Join(dir, "outbox"))
	for _, e := range raw {
		data, _ := os.ReadFile(filepath.Join(dir, "outbox", e.Name()))
		if strings.Contains(string(data), "evil.example") {
			t.Fatalf("an email carries the injected host: %s", e.Name())
		}
	}
}

func TestSecretsNeverInCaddyLogsOrStoreFile(t *testing.T) {
	_, cp, dir := startAttackRig(t)
	c := newClient(t, cp.URL)
	c.login("alice", "alice-demo", "/")
	page, _ := c.follow("/.2fa/enroll/totp")
	key := strings.ReplaceAll(htmltest.Text(page.body, "totp-key"), " ", "")
	var step int64
	code := nextStepCode(t, key, &step)
	c.submitCode(page, "000000")
	c.submitCode(page, code)
	page, _ = c.follow("/.2fa/enroll/email")
	c.press(page, "/.2fa/enroll/email")
	emailCode := outboxCode(t, dir, "alice@acme.example")
	u, _ := url.Parse(cp.URL)
	var cookies []string
	for _, ck := range c.http.Jar.Cookies(u) {
		cookies = append(cookies, ck.Value)
	}
	cp.stop() // flush and close the store
	db, err := os.ReadFile(filepath.Join(dir, "2fa.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := cp.logs.String()
	for _, secret := range append([]string{key, code, emailCode}, cookies...) {
		if strings.Contains(string(db), secret) {
			t.Errorf("the store file holds %q in clear", secret)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("Caddy's log holds %q", secret)
		}
	}
}

func TestIdentityLookupDownFailsClosed(t *testing.T) {
	app := startDemoApp(t)
	dead := freePort(t) // nothing listens here: the who-am-I endpoint is down
	cf := strings.Replace(withApp(attackCaddyfile, app), "identity lookup http://"+app.addr()+"/api/me", fmt.Sprintf("identity lookup http://127.0.0.1:%d/api/me", dead), 1)
	cp := startCaddy(t, t.TempDir(), cf)
	c := newClient(t, cp.URL)
	before := app.hits.Load()
	r := c.get("/reports", "Cookie", "legacy_session=stolen-or-real")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
		t.Fatalf("lookup down: %d %s", r.status, r.body)
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("requests reached the app while identity could not be checked: %v", leaked)
	}
	// Without an app session there is nothing to check: the app's login
	// page stays reachable.
	if r := c.get("/login"); r.status != 200 {
		t.Fatalf("anonymous request: %d", r.status)
	}
}

// servletPaths reads paths as Tomcat, Jetty and Spring do: ';' parameters
// dropped from every segment, then decoded and resolved.
func servletPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := strings.Split(r.URL.EscapedPath(), "/")
		for i, s := range segs {
			s, _, _ = strings.Cut(s, ";")
			if d, err := url.PathUnescape(s); err == nil {
				s = d
			}
			segs[i] = s
		}
		r.URL.Path, r.URL.RawPath = path.Clean(strings.ReplaceAll(strings.Join(segs, "/"), "\\", "/")), ""
		next.ServeHTTP(w, r)
	})
}

// Paths that look like a bypass path once cleaned, but that a servlet
// container resolves elsewhere: an unverified user is challenged on every
// one (never reaching the app's /reports), a verified user reaches the app.
func TestBypassPathTricksNeverSkipTheChallenge(t *testing.T) {
	app := startDemoAppWith(t, legacyapp.Options{}, servletPaths)
	cp := startCaddy(t, t.TempDir(), withApp(lookupCaddyfile, app))
	addr := strings.TrimPrefix(cp.URL, "http://")
	shapes := []string{
		"/static/..;/reports", "/static/..%3B/reports", "/static/%2e%2e;/reports", "/static/%252e%252e/reports",
		"/static/%2e%2e/reports", "/static/.%2e/reports", "/static/..%2freports", "/static/..%5creports",
		"/static;x/../reports", "/static/x;/../../reports", "/static//..;/reports", "/healthz;/../reports",
	}
	send := func(session, target string) string {
		return rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nCookie: legacy_session="+session+"\r\nConnection: close\r\n\r\n")
	}
	c := newClient(t, cp.URL)
	c.login("bob", "bob-demo", "/")
	bob := cookieValue(t, c, "legacy_session")
	before := app.hits.Load()
	for _, target := range shapes {
		if status := send(bob, target); !strings.Contains(status, " 302 ") {
			t.Errorf("unverified %s: %s, want the challenge", target, status)
		}
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("unverified requests reached the app: %v", leaked)
	}
	if r := c.get("/static/app.css"); r.status != http.StatusOK {
		t.Fatalf("the plain bypass path: %d", r.status)
	}

	var step int64
	v := newClient(t, cp.URL)
	enrollAuthenticator(t, v, "carol", "carol-demo", &step)
	carol := cookieValue(t, v, "legacy_session")
	var ours []string
	u, _ := url.Parse(cp.URL)
	for _, ck := range v.http.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "2fa_") {
			ours = append(ours, ck.Name+"="+ck.Value)
		}
	}
	for _, target := range shapes {
		before := app.hits.Load()
		status := rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: legacy_session="+carol+"; "+strings.Join(ours, "; ")+"\r\nConnection: close\r\n\r\n")
		if app.hits.Load() == before || strings.Contains(status, " 302 ") {
			t.Errorf("verified %s: %s, want the app reached", target, status)
		}
	}
}

func cookieValue(t *testing.T, c *client, name string) string {
	t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no %s cookie", name)
	return ""
}
