package challenge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/policy"
)

// stepUpTOTP answers the fresh-code request a sensitive page sent the
// browser to, and returns where it goes next.
func (b *browser) stepUpTOTP(key string) reply {
	b.h.t.Helper()
	page := b.follow(b.h.cfg.PathPrefix + "/verify")
	if !strings.Contains(page.body, `id="step-up"`) { // "Confirm it's you"
		b.h.t.Fatalf("step-up: no code page:\n%s", page.body)
	}
	b.h.advance(30 * time.Second) // a code of a step not used yet
	r := b.submitCode(page, b.h.code(key, 0))
	if r.status != http.StatusSeeOther {
		b.h.t.Fatalf("step-up code: %d %s", r.status, r.body)
	}
	return r
}

// An XSS in the app (same origin) or a stolen session two hours old cannot
// replace the authenticator: the enrollment page asks for a fresh code
// from the current one first, and comes back after it.
func TestMethodSwapFromTwoHourOldSessionAsksForAFreshCode(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key := b.enrollTOTP("/")
	h.advance(2 * time.Hour)
	r := b.get("/.2fa/enroll/totp")
	if r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("replacing the authenticator from an old session: %d %q, want a fresh code first", r.status, r.location)
	}
	if strings.Contains(r.body, "totp-key") {
		t.Fatal("a new key was shown before the fresh code")
	}
	next := b.stepUpTOTP(key)
	if next.location != "/.2fa/enroll/totp" {
		t.Fatalf("after the fresh code: back to %q, want the enrollment page", next.location)
	}
	page := b.get("/.2fa/enroll/totp")
	if page.status != http.StatusOK || htmltest.Text(page.body, "totp-key") == "" {
		t.Fatalf("the enrollment page after the fresh code: %d", page.status)
	}
}

// A fresh session (a code just entered) goes straight to the page.
func TestFreshCodeNeedsNoStepUp(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	h.advance(9 * time.Minute)
	if r := b.get("/.2fa/enroll/totp"); r.status != http.StatusOK {
		t.Fatalf("9 minutes after the code: %d, want the page", r.status)
	}
}

// Admin pages need a fresh pass too, and the API says so in JSON.
func TestAdminPagesNeedAFreshCode(t *testing.T) {
	h, a := enabledAdminHarness(t)
	if r := a.get("/.2fa/admin"); r.status != http.StatusOK {
		t.Fatalf("right after the code: %d", r.status)
	}
	h.advance(11 * time.Minute)
	if r := a.get("/.2fa/admin"); r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("11 minutes later: %d %q, want a fresh code first", r.status, r.location)
	}
	status, body := apiCall(t, a, http.MethodGet, "/.2fa/api/admin/policy", nil)
	if status != http.StatusUnauthorized || body["error"] != "fresh_two_factor_required" {
		t.Fatalf("API 11 minutes later: %d %v", status, body)
	}
}

// A session a trusted device opened never counts as fresh: removing
// devices needs a code.
func TestTrustedDeviceSessionIsNotFreshForRemovingDevices(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	key := b.rememberedLogin()
	b.newAppSession("s2")
	if r := b.get("/x"); r.status != 200 {
		t.Fatalf("remembered device: %d", r.status)
	}
	page := b.page("/.2fa/devices")
	_, csrf := csrfOf(t, page.body)
	devs, _ := accounts.ListDevices(t.Context(), h.backend, "default", "alice")
	r := b.do(http.MethodPost, "/.2fa/devices", url.Values{"csrf": {csrf}, "action": {"others"}})
	if r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("signing out other devices from a device-opened session: %d %q", r.status, r.location)
	}
	if after, _ := accounts.ListDevices(t.Context(), h.backend, "default", "alice"); len(after) != len(devs) {
		t.Fatal("devices were removed without a fresh code")
	}
	if next := b.stepUpTOTP(key); next.location != "/.2fa/devices" {
		t.Fatalf("after the fresh code: back to %q", next.location)
	}
}

// A step-up path stricter than the pages' own window (5 minutes against
// 10): a 7-minute-old pass is asked for a code, and the verify page asks
// for it too, rather than sending the user round in a loop.
func TestStepUpPathStricterThanThePagesWindowAsksAndReturns(t *testing.T) {
	rule, err := gate.NewFreshRule(5*time.Minute, []string{"/payroll/*"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.Fresh = []gate.FreshRule{rule} })
	b := h.browser("alice", "s1")
	key := b.enrollTOTP("/")
	if r := b.get("/payroll/june"); r.status != http.StatusOK {
		t.Fatalf("right after the code: %d", r.status)
	}
	h.advance(7 * time.Minute)
	if r := b.get("/reports"); r.status != http.StatusOK {
		t.Fatalf("elsewhere, 7 minutes on: %d", r.status)
	}
	before := h.upstream.Load()
	r := b.get("/payroll/june")
	if r.status != http.StatusFound || r.location != "/.2fa/verify" {
		t.Fatalf("the step-up path, 7 minutes on: %d %q", r.status, r.location)
	}
	if r := b.get("/payroll/june", "Accept", "application/json"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "step_up_required") {
		t.Fatalf("an API call: %d %s", r.status, r.body)
	}
	page := b.follow("/.2fa/verify")
	if !strings.Contains(page.body, `name="code"`) {
		t.Fatalf("the verify page does not ask for a code:\n%s", page.body)
	}
	if r := b.submitCode(page, h.code(key, 0)); r.status != http.StatusSeeOther || r.location != "/payroll/june" {
		t.Fatalf("after the code: %d %q", r.status, r.location)
	}
	if r := b.get("/payroll/june"); r.status != http.StatusOK {
		t.Fatalf("back on the step-up path: %d", r.status)
	}
	if h.upstream.Load() != before+1 {
		t.Fatal("a step-up request reached the app before the code")
	}
}
