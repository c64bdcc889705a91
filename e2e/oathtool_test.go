package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// oathtoolCode is the code an independent TOTP implementation (oathtool,
// RFC 6238) gives for the key at the time at.
func oathtoolCode(t *testing.T, key string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", strings.ReplaceAll(key, " ", ""), "-N", fmt.Sprintf("@%d", at.Unix())).Output()
	if err != nil {
		t.Fatalf("oathtool (Debian package oathtool, installed by the test script): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// The key the enrollment page shows works in any authenticator: codes an
// independent implementation makes from it enroll and verify the user.
func TestAuthenticatorKeyAgreesWithOathtool(t *testing.T) {
	app := startDemoApp(t)
	cp := startCaddy(t, t.TempDir(), withApp(realmCaddyfile, app))
	c := newClient(t, cp.URL)
	c.login("alice", "alice-demo", "/reports")
	page, at := c.follow("/.2fa/enroll/totp")
	key := htmltest.Text(page.body, "totp-key")
	if at != "/.2fa/enroll/totp" || key == "" {
		t.Fatalf("no enrollment page at %s:\n%s", at, page.body)
	}
	now := time.Now()
	if r := c.submitCode(page, oathtoolCode(t, key, now)); r.status != http.StatusSeeOther {
		t.Fatalf("oathtool's code did not enroll: %d %s", r.status, r.body)
	}
	c.logout()
	c.login("alice", "alice-demo", "/reports")
	page, at = c.follow("/reports")
	if at != "/.2fa/verify/totp" {
		t.Fatalf("a new login: %s", at)
	}
	// The next time step: the enrollment's step is spent.
	if r := c.submitCode(page, oathtoolCode(t, key, now.Add(30*time.Second))); r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("oathtool's code did not verify: %d %q %s", r.status, r.location, r.body)
	}
}
