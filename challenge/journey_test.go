package challenge

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
)

func TestRequestWithoutIdentityPassesUntouched(t *testing.T) {
	h := newHarness(t)
	r := h.browser("", "").get("/login")
	if r.status != 200 || r.body != "app:/login" {
		t.Fatalf("anonymous request: %d %q", r.status, r.body)
	}
}

func TestFirstLoginEnrollsAuthenticatorAndReturnsToOriginalPage(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/reports/q3?year=2026")
	if !strings.Contains(page.body, `src="data:image/png;base64,`) {
		t.Error("enrollment page has no QR code image")
	}
	link := htmltest.AttrByID(page.body, "otpauth-link", "href")
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != strings.ReplaceAll(key, " ", "") || u.Query().Get("issuer") != "Acme Corp" {
		t.Errorf("otpauth link %q does not carry the key and issuer", link)
	}
	before := h.upstream.Load()
	r := b.savedRecoveryCodes(b.submitCode(page, h.code(key, 0)))
	if r.status != http.StatusSeeOther || r.location != "/reports/q3?year=2026" {
		t.Fatalf("want 303 back to the original page, got %d %q", r.status, r.location)
	}
	if h.upstream.Load() != before {
		t.Fatal("upstream reached before verification completed")
	}
	if got := b.get("/reports/q3?year=2026"); got.status != 200 || got.body != "app:/reports/q3?year=2026" {
		t.Fatalf("verified request: %d %q", got.status, got.body)
	}
	u2, err := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if err != nil || len(u2.Methods) != 1 || u2.Preferred != policy.MethodTOTP {
		t.Fatalf("enrollment not stored: %+v %v", u2, err)
	}
	if strings.Contains(string(u2.Methods[0].Secret), strings.ReplaceAll(key, " ", "")) {
		t.Fatal("TOTP secret stored in clear")
	}
}

func TestVerifiedRequestsDoNotTouchTheStore(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	b.get("/") // first request of the session may read the user's epoch
	calls := h.backend.calls.Load()
	for range 50 {
		if r := b.get("/page"); r.status != 200 {
			t.Fatalf("verified request refused: %d", r.status)
		}
	}
	if n := h.backend.calls.Load() - calls; n != 0 {
		t.Fatalf("verified requests made %d store calls, want 0", n)
	}
}

func TestNewAppSessionAsksForVerificationNotEnrollment(t *testing.T) {
	h := newHarness(t)
	key := h.browser("alice", "s1").enrollTOTP("/")
	h.advance(31 * time.Second) // the enrollment code's step is spent
	b := h.browser("alice", "s2")
	r := b.get("/reports")
	if r.status != http.StatusFound {
		t.Fatalf("new app session must be challenged, got %d", r.status)
	}
	page := b.follow(r.location)
	if !strings.Contains(page.body, "Enter your code") || strings.Contains(page.body, "totp-key") {
		t.Fatalf("want the verification page, got:\n%s", page.body)
	}
	r = b.submitCode(page, h.code(key, 0))
	if r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("verification: %d %q %s", r.status, r.location, r.body)
	}
}

func TestSessionOfOneAppSessionDoesNotCoverAnother(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	// Same browser cookies, but the app logged the user in again.
	u, _ := url.Parse(h.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "app", Value: "s2", Path: "/"}})
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("session cookie must be bound to the app session, got %d", r.status)
	}
}

func TestSessionCookieOfOneUserIgnoredForAnother(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	b.user = "bob"
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("alice's session must not admit bob, got %d", r.status)
	}
}

func TestSessionExpiresAfterItsLifetime(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.SessionLifetime = time.Hour })
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	h.advance(61 * time.Minute)
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("expired session admitted: %d", r.status)
	}
}

func TestPolicyOffLetsIdentifiedUsersThrough(t *testing.T) {
	h := newHarness(t, func(_ *siteConfig, p *policy.Policy) { p.Enabled = false })
	if r := h.browser("alice", "s1").get("/x"); r.status != 200 {
		t.Fatalf("2FA off: %d", r.status)
	}
}

func TestUnverifiedRequestNeverReachesUpstream(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		for _, p := range []string{"/", "/admin/users?delete=1", "/api/v1/things", "//x", "/a/../b"} {
			r := b.do(m, p, nil)
			if r.status != http.StatusFound && r.status != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d", m, p, r.status)
			}
		}
	}
	if n := h.upstream.Load(); n != 0 {
		t.Fatalf("%d unverified requests reached the upstream", n)
	}
}

func TestAPIRequestGets401JSONWithChallengeURL(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	for _, r := range []reply{
		b.get("/api/things", "Accept", "application/json"),
		b.do("POST", "/api/things", url.Values{"a": {"b"}}),
		b.get("/api/things", "X-Requested-With", "XMLHttpRequest"),
	} {
		if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("want 401 JSON, got %d %s", r.status, r.header.Get("Content-Type"))
		}
		var body pages.APIError
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error != "two_factor_required" || body.ChallengeURL != "/.2fa/" {
			t.Fatalf("401 body: %s", r.body)
		}
	}
}

func TestPagesAskUnidentifiedVisitorsToSignInFirst(t *testing.T) {
	h := newHarness(t)
	r := h.browser("", "").get("/.2fa/verify/totp")
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Sign in first") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestStylesheetServedWithLongCaching(t *testing.T) {
	h := newHarness(t)
	r := h.browser("", "").get("/.2fa/static/style.css")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") || !strings.Contains(r.header.Get("Cache-Control"), "max-age=31536000") {
		t.Fatalf("stylesheet: %d %v", r.status, r.header)
	}
}

func TestPastedCodeWithSpacesAndDashesAccepted(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	c := h.code(key, 0)
	r := b.submitCode(page, " "+c[:3]+"-"+c[3:]+" ")
	if r.status != http.StatusSeeOther {
		t.Fatalf("pasted code refused: %d %s", r.status, r.body)
	}
}

func TestMalformedCodeExplainedAndNotCounted(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	_, page := b.startEnrollment("/")
	r := b.submitCode(page, "12ab56")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "6-digit code") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !strings.Contains(r.body, `autofocus`) || !strings.Contains(r.body, `aria-invalid="true"`) {
		t.Error("the code field must keep focus and be marked invalid after an error")
	}
	n, _, _ := h.backend.Incr(t.Context(), h.userFailKey("alice"), 0, time.Minute)
	if n != 0 {
		t.Fatalf("malformed code counted as a failure: %d", n)
	}
}

// The session cache must not outlive any check: warm it, then change the
// app session, the user, or the clock.
func TestCachedSessionStillCheckedEveryRequest(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.SessionLifetime = time.Hour })
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	if r := b.get("/warm"); r.status != 200 {
		t.Fatalf("verified: %d", r.status)
	}
	u, _ := url.Parse(h.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "app", Value: "s2", Path: "/"}})
	if r := b.get("/x"); r.status != http.StatusFound {
		t.Fatalf("cached session admitted another app session: %d", r.status)
	}
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "app", Value: "s1", Path: "/"}})
	if r := b.get("/x"); r.status != 200 {
		t.Fatalf("back to the verified app session: %d", r.status)
	}
	b.user = "bob"
	if r := b.get("/x"); r.status != http.StatusFound {
		t.Fatalf("cached session admitted another user: %d", r.status)
	}
	b.user = "alice"
	h.advance(61 * time.Minute)
	if r := b.get("/x"); r.status != http.StatusFound {
		t.Fatalf("cached session outlived its expiry: %d", r.status)
	}
}

// A code check reads the user, the open challenge and both lockout
// counters in one store read (one Redis round trip), not four.
func TestCodeCheckReadsWhatItNeedsInOneRead(t *testing.T) {
	h := newHarness(t)
	key := h.browser("alice", "s1").enrollTOTP("/")
	h.advance(31 * time.Second) // the enrollment code's step is spent
	b := h.browser("alice", "s2")
	page := b.follow(b.get("/reports").location)
	if !strings.Contains(page.body, `name="code"`) {
		page = b.follow(h.cfg.PathPrefix + "/verify/totp")
	}
	gets, batches := h.backend.gets.Load(), h.backend.batches.Load()
	r := b.submitCode(page, h.code(key, 0))
	if r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("verification: want 303 to /reports, got %d %q\n%s", r.status, r.location, r.body)
	}
	if n := h.backend.batches.Load() - batches; n != 1 {
		t.Errorf("verification made %d batched reads, want 1", n)
	}
	if n := h.backend.gets.Load() - gets; n != 0 {
		t.Errorf("verification made %d single reads besides the batch, want 0", n)
	}
	u, err := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if err != nil || u.LastVerified.IsZero() || u.TOTPStep == 0 {
		t.Errorf("verification not recorded on the user: %+v %v", u, err)
	}
}

// A store that fails the read-ahead fails the code check closed, as it
// would without it.
func TestCodeCheckFailsClosedWhenTheStoreIsDown(t *testing.T) {
	h := newHarness(t)
	key := h.browser("alice", "s1").enrollTOTP("/")
	h.advance(31 * time.Second)
	b := h.browser("alice", "s2")
	page := b.follow(b.get("/reports").location)
	if !strings.Contains(page.body, `name="code"`) {
		page = b.follow(h.cfg.PathPrefix + "/verify/totp")
	}
	h.backend.down.Store(true)
	r := b.submitCode(page, h.code(key, 0))
	h.backend.down.Store(false)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("code check with the store down: want 503, got %d %q", r.status, r.location)
	}
	if got := b.get("/reports"); got.status == http.StatusOK {
		t.Fatal("the app was reached after a code check the store could not answer")
	}
}
