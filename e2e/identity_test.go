package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// echoed is what the legacy app's /echo saw.
type echoed struct {
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
}

func parseEcho(t *testing.T, r resp) echoed {
	t.Helper()
	var e echoed
	if r.status != 200 || json.Unmarshal([]byte(r.body), &e) != nil {
		t.Fatalf("want the app's /echo, got %d %s", r.status, r.body)
	}
	return e
}

func (e echoed) hasIdentityHeader() bool {
	for name := range e.Headers {
		if n := strings.ReplaceAll(strings.ToLower(name), "_", "-"); n == "x-remote-user" || n == "x-remote-email" {
			return true
		}
	}
	return false
}

const headerCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity {
			id    {http.request.header.X-Remote-User}
			email {http.request.header.X-Remote-Email}
		}
		policy {
			enforce
		}
		{EXTRA}
	}
	reverse_proxy {APP}
}
`

func TestIdentityHeaderSmugglingFromUntrustedClientIgnored(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(strings.Replace(headerCaddyfile, "{EXTRA}", "", 1), app))
	c := newClient(t, cp.URL)
	for _, hdrs := range [][]string{
		{"X-Remote-User", "alice"},
		{"x-remote-user", "alice", "X-Remote-Email", "alice@acme.example"},
		{"X_Remote_User", "alice"},
		{"x_remote_user", "alice"},
		{"X-Remote-User", "alice", "X-Remote-User", "bob"},
	} {
		r := c.get("/echo", hdrs...)
		// The client's claim is no identity: the request passes as anonymous
		// (the app decides), and the app never sees the forged header.
		e := parseEcho(t, r)
		if e.hasIdentityHeader() {
			t.Errorf("forged identity header %v reached the app: %v", hdrs, e.Headers)
		}
	}
}

func TestIdentityHeaderFromTrustedProxyHonoured(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(strings.Replace(headerCaddyfile, "{EXTRA}", "trusted_proxies 127.0.0.1/32", 1), app))
	c := newClient(t, cp.URL)
	r := c.get("/echo", "X-Remote-User", "alice")
	if r.status != http.StatusFound || r.location != "/.2fa/" {
		t.Fatalf("identity from a trusted proxy must be challenged, got %d", r.status)
	}
	r = c.get("/echo", "X_Remote_User", "alice")
	if r.status != 200 || parseEcho(t, r).hasIdentityHeader() {
		t.Fatalf("underscore spelling must never count nor reach the app: %d %s", r.status, r.body)
	}
}

func TestBasicAuthIdentityIsChallenged(t *testing.T) {
	app := startDemoApp(t)
	out, err := exec.Command(caddyBinary(t), "hash-password", "--plaintext", "s3cret-pass").Output()
	if err != nil {
		t.Fatal(err)
	}
	cf := withApp(`{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
	}
}
http://127.0.0.1:{PORT} {
	basic_auth {
		dave `+strings.TrimSpace(string(out))+`
	}
	twofactor {
		policy {
			enforce
		}
	}
	reverse_proxy {APP}
}
`, app)
	cp := startCaddy(t, t.TempDir(), cf)
	c := newClient(t, cp.URL)
	req, _ := http.NewRequest("GET", cp.URL+"/echo", nil)
	req.SetBasicAuth("dave", "s3cret-pass")
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/.2fa/" {
		t.Fatalf("basic_auth user must be challenged, got %d", res.StatusCode)
	}
}

func TestForwardAuthCopiedHeadersTrustedAndClientCopiesDropped(t *testing.T) {
	app := startDemoApp(t)
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer carol-token" {
			w.Header().Set("X-Remote-User", "carol")
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(auth.Close)
	cf := withApp(`{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
	}
}
http://127.0.0.1:{PORT} {
	forward_auth `+strings.TrimPrefix(auth.URL, "http://")+` {
		uri /auth
		copy_headers X-Remote-User
	}
	twofactor {
		identity {
			id {http.request.header.X-Remote-User}
			groups {http.request.header.X-Remote-Groups}
			headers_from_handler X-Remote-User
		}
		policy {
			enforce
		}
	}
	reverse_proxy {APP}
}
`, app)
	cp := startCaddy(t, t.TempDir(), cf)
	c := newClient(t, cp.URL)
	if r := c.get("/echo", "Authorization", "Bearer carol-token"); r.status != http.StatusFound {
		t.Fatalf("forward_auth identity must be challenged, got %d", r.status)
	}
	// Without a token the auth service names nobody; the client's own
	// header is removed by forward_auth and the underscore spelling by us.
	r := c.get("/echo", "X-Remote-User", "carol", "X_Remote_User", "carol")
	if r.status != 200 || parseEcho(t, r).hasIdentityHeader() {
		t.Fatalf("client-sent identity with forward_auth: %d %s", r.status, r.body)
	}
	// forward_auth does not set X-Remote-Groups: a client's copy of it goes,
	// so carol cannot make herself an org admin.
	r = c.get("/.2fa/admin", "Authorization", "Bearer carol-token", "X-Remote-Groups", "general_settings:manager")
	if r.status != http.StatusForbidden {
		t.Fatalf("carol with a forged group on the admin page: %d, want 403", r.status)
	}
}

// Caddy's own trusted_proxies says whose X-Forwarded-For to believe, not
// who may name users: a peer trusted only there cannot assert identities.
func TestServerTrustedProxiesDoNotAssertIdentities(t *testing.T) {
	app := startDemoApp(t)
	cf := strings.Replace(withApp(headerCaddyfile, app), "skip_install_trust\n", "skip_install_trust\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n", 1)
	cp := startCaddy(t, t.TempDir(), strings.Replace(cf, "{EXTRA}", "", 1))
	c := newClient(t, cp.URL)
	r := c.get("/echo", "X-Remote-User", "alice")
	if r.status != http.StatusOK || parseEcho(t, r).hasIdentityHeader() {
		t.Fatalf("identity from a server-trusted peer: %d", r.status)
	}
}
