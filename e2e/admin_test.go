package e2e

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/notify"
)

// The org admin's journey through Caddy, exactly as the product's help
// page tells it, and the operator routes on Caddy's admin endpoint.

const adminCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
		email outbox {DIR}/outbox
		realm default {
			issuer "Acme Corp"
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		site_url http://127.0.0.1:{PORT}
	}
	reverse_proxy {APP}
}
`

func outboxCode(t *testing.T, dir, to string) string {
	t.Helper()
	msgs, err := notify.ReadOutbox(filepath.Join(dir, "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			if m := regexp.MustCompile(`\b(\d{6})\b`).FindStringSubmatch(msgs[i].Subject); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no code mailed to %s", to)
	return ""
}

func formToken(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form in:\n%s", body)
	}
	return m[1]
}

func TestAdminWalksTheHelpPageThroughCaddy(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(adminCaddyfile, app))
	bob := newClient(t, cp.URL)
	bob.login("bob", "bob-demo", "/")
	if r := bob.get("/reports"); r.status != 200 {
		t.Fatalf("2FA off: bob reaches the app, got %d", r.status)
	}
	alice := newClient(t, cp.URL)
	alice.login("alice", "alice-demo", "/")
	// Settings > Security > Enable.
	page, _ := alice.follow("/.2fa/admin")
	if !strings.Contains(page.body, "Two-Factor Authentication For All Users") {
		t.Fatalf("security page: %s", page.body)
	}
	page, _ = alice.follow("/.2fa/admin/enable")
	r := alice.do(http.MethodPost, "/.2fa/admin/enable", url.Values{
		"csrf": {formToken(t, page.body)}, "method": {"email", "totp"}, "remember": {"1"}, "remember_days": {"30"},
	})
	if r.status != http.StatusSeeOther {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	u, _ := url.Parse(r.location)
	page, _ = alice.follow(u.RequestURI())
	if !strings.Contains(html.UnescapeString(page.body), "Copy the code, enter it, and click Verify") {
		t.Fatalf("code step: %s", page.body)
	}
	r = alice.submitCode(page, outboxCode(t, dir, "alice@acme.example"))
	if r.status != 200 || !strings.Contains(r.body, "enabled for all users") {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	// Setup instructions reach every known user, through the queue.
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, _ := notify.ReadOutbox(filepath.Join(dir, "outbox"))
		got := 0
		for _, m := range msgs {
			if strings.Contains(m.Subject, "requires two-factor") && (m.To == "bob@acme.example" || m.To == "alice@acme.example") {
				got++
			}
		}
		if got == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup emails: %d of 2 after 10s", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// bob's open app session continues; at his next login he enrolls.
	if r := bob.get("/reports"); r.status != 200 {
		t.Fatalf("bob's open app session: %d", r.status)
	}
	bob.logout()
	bob.login("bob", "bob-demo", "/reports")
	if _, at := bob.follow("/reports"); at != "/.2fa/enroll" {
		t.Fatalf("bob's next login: want enrollment, got %s", at)
	}
}

func adminReq(t *testing.T, cp *caddyProc, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", cp.admin, path), strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return res.StatusCode, out
}

func TestOperatorRoutesOnCaddyAdminEndpoint(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(adminCaddyfile, app))
	carol := newClient(t, cp.URL)
	carol.login("carol", "carol-demo", "/")
	carol.get("/") // carol becomes a known user

	status, out := adminReq(t, cp, "GET", "/twofactor/policy", "")
	if status != 200 || out["stored"] != false {
		t.Fatalf("GET policy: %d %v", status, out)
	}
	status, out = adminReq(t, cp, "PUT", "/twofactor/policy", `{"enabled":true,"methods":["totp","sms"]}`)
	if status != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out), "account manager") {
		t.Fatalf("SMS without a sender must be refused: %d %v", status, out)
	}
	status, out = adminReq(t, cp, "PUT", "/twofactor/policy", `{"enabled":true,"methods":["totp"],"remember_days":7}`)
	if status != 200 {
		t.Fatalf("PUT policy: %d %v", status, out)
	}
	// The running gate follows at once.
	deadline := time.Now().Add(2 * time.Second)
	for carol.get("/reports").status != http.StatusFound {
		if time.Now().After(deadline) {
			t.Fatal("policy set by the operator not enforced")
		}
		carol.logout()
		carol.login("carol", "carol-demo", "/")
	}
	status, out = adminReq(t, cp, "GET", "/twofactor/users", "")
	if status != 200 || !strings.Contains(fmt.Sprint(out["users"]), "carol") {
		t.Fatalf("users: %d %v", status, out)
	}
	status, out = adminReq(t, cp, "POST", "/twofactor/users/carol/reset", "")
	if status != 200 {
		t.Fatalf("reset: %d %v", status, out)
	}
	status, out = adminReq(t, cp, "POST", "/twofactor/users/nobody/reset", "")
	if status != 404 {
		t.Fatalf("reset unknown user: %d %v", status, out)
	}
	status, out = adminReq(t, cp, "POST", "/twofactor/users/carol/revoke-devices", "")
	if status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	status, out = adminReq(t, cp, "GET", "/twofactor/audit?limit=10", "")
	if status != 200 || !strings.Contains(fmt.Sprint(out["events"]), "actor:operator") {
		t.Fatalf("audit: %d %v", status, out)
	}
	if status, _ := adminReq(t, cp, "DELETE", "/twofactor/policy", ""); status != 404 {
		t.Fatalf("unknown method: %d", status)
	}
}
