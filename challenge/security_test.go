package challenge

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
)

func TestReplayedTOTPCodeRefusedEvenInNewSession(t *testing.T) {
	h := newHarness(t)
	key := h.browser("alice", "s1").enrollTOTP("/")
	used := h.code(key, 0)
	b := h.browser("alice", "s2")
	page := b.follow("/")
	if r := b.submitCode(page, used); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("replayed enrollment code accepted in a new session: %d", r.status)
	}
	h.advance(30 * time.Second)
	fresh := h.code(key, 0)
	if r := b.submitCode(page, fresh); r.status != http.StatusSeeOther {
		t.Fatalf("fresh code refused: %d %s", r.status, r.body)
	}
	c := h.browser("alice", "s3")
	if r := c.submitCode(c.follow("/"), fresh); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("code replayed in a third session accepted: %d", r.status)
	}
}

func TestParallelSubmissionsOfOneCodeGiveOneSuccess(t *testing.T) {
	h := newHarness(t)
	key := h.browser("alice", "s1").enrollTOTP("/")
	h.advance(30 * time.Second)
	code := h.code(key, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		b := h.browser("alice", "p"+string(rune('a'+i)))
		page := b.follow("/")
		wg.Add(1)
		go func() {
			defer wg.Done()
			action, csrf := formOf(t, page.body)
			r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {code}})
			if r.status == http.StatusSeeOther {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("one code admitted %d sessions, want exactly 1", wins)
	}
}

func TestCodeOutsideClockSkewWindowRefused(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	if r := b.submitCode(page, h.code(key, 90*time.Second)); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("code 3 steps ahead accepted: %d", r.status)
	}
	if r := b.submitCode(page, h.code(key, 30*time.Second)); r.status != http.StatusSeeOther {
		t.Fatalf("code one step ahead (clock drift) refused: %d", r.status)
	}
}

func TestBruteForceEndsChallengeAfterFiveWrongCodes(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	var r reply
	for i := 1; i <= 5; i++ {
		r = b.submitCode(page, "000000")
		if i < 5 && !strings.Contains(r.body, "left") {
			t.Fatalf("attempt %d: want tries-left message, got %d", i, r.status)
		}
	}
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many wrong codes") {
		t.Fatalf("after 5 wrong codes: %d %s", r.status, r.body)
	}
	// The dead challenge's form no longer works, even with the right code.
	if r := b.submitCode(page, h.code(key, 0)); r.status == http.StatusSeeOther {
		t.Fatal("right code accepted on a challenge ended by brute force")
	}
}

func TestBruteForceLocksUserAcrossChallengesAndSessions(t *testing.T) {
	h := newHarness(t)
	key := h.browser("alice", "s0").enrollTOTP("/")
	h.advance(30 * time.Second)
	var r reply
	for i := range 10 {
		b := h.browser("alice", "s"+string(rune('a'+i)))
		r = b.submitCode(b.follow("/"), "000000")
	}
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Try again at") {
		t.Fatalf("10th wrong code across sessions: %d %s", r.status, r.body)
	}
	b := h.browser("alice", "fresh")
	r = b.submitCode(b.follow("/"), h.code(key, 0))
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("right code accepted during lockout: %d", r.status)
	}
	want := time.Now().Add(15 * time.Minute).UTC().Format("15:04")
	if !strings.Contains(r.body, want) && !strings.Contains(r.body, time.Now().Add(14*time.Minute).UTC().Format("15:04")) {
		t.Errorf("lockout page should say when to try again (%s UTC): %s", want, r.body)
	}
}

func TestBruteForceFromOneIPAcrossAccountsLocksTheIP(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.IPFailLimit = 6 })
	var r reply
	for i := range 6 {
		b := h.browser("user"+string(rune('a'+i)), "s")
		r = b.submitCode(b.follow("/"), "000000")
	}
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("6th failure from one IP across accounts: %d", r.status)
	}
	b := h.browser("victim", "s")
	page := b.follow("/")
	if r := b.submitCode(page, "000000"); r.status != http.StatusTooManyRequests {
		t.Fatalf("locked IP may still guess for another account: %d", r.status)
	}
}

func TestCSRFPostWithoutTokenRefused(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	action, _ := formOf(t, page.body)
	r := b.do(http.MethodPost, action, url.Values{"code": {h.code(key, 0)}})
	if r.status != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: %d", r.status)
	}
	r = b.do(http.MethodPost, action, url.Values{"code": {h.code(key, 0)}, "csrf": {"AAAA"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("POST with forged CSRF token: %d", r.status)
	}
}

func TestCSRFTokenOfAnotherUserRefused(t *testing.T) {
	h := newHarness(t)
	mallory := h.browser("mallory", "m")
	_, page := mallory.startEnrollment("/")
	_, token := formOf(t, page.body)
	alice := h.browser("alice", "s1")
	key, _ := alice.startEnrollment("/")
	r := alice.do(http.MethodPost, "/.2fa/enroll/totp", url.Values{"code": {h.code(key, 0)}, "csrf": {token}})
	if r.status != http.StatusForbidden {
		t.Fatalf("another user's token accepted: %d", r.status)
	}
}

func TestCSRFCrossOriginPostRefused(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	action, csrf := formOf(t, page.body)
	form := url.Values{"csrf": {csrf}, "code": {h.code(key, 0)}}
	if r := b.do(http.MethodPost, action, form, "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", r.status)
	}
	if r := b.do(http.MethodPost, action, form, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", r.status)
	}
}

func TestEnrollmentHijackNeedsVerificationFirst(t *testing.T) {
	h := newHarness(t)
	h.browser("alice", "s1").enrollTOTP("/")
	thief := h.browser("alice", "stolen")
	for _, p := range []string{"/.2fa/enroll", "/.2fa/enroll/totp"} {
		r := thief.get(p)
		if r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
			t.Fatalf("%s for an enrolled, unverified user: %d %q", p, r.status, r.location)
		}
	}
	// A valid CSRF token from the verify page does not open enrollment.
	_, token := formOf(t, thief.follow("/.2fa/verify").body)
	r := thief.do(http.MethodPost, "/.2fa/enroll/totp", url.Values{"code": {"123456"}, "csrf": {token}})
	if r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("POST enrollment by an unverified session: %d %q", r.status, r.location)
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if len(u.Methods) != 1 {
		t.Fatalf("methods changed by an unverified session: %+v", u.Methods)
	}
}

func TestClickjackingAndContentTypeHeadersOnEveryPage(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	for _, p := range []string{"/.2fa/", "/.2fa/enroll/totp", "/.2fa/nope"} {
		r := b.follow(p)
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, r.header)
		}
		if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: pages with codes and keys must not be cached", p)
		}
	}
}

func TestCookiesHttpOnlySameSiteLax(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	r := b.get("/")
	found := false
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		found = true
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Errorf("cookie %s: HttpOnly=%t SameSite=%v Path=%q", c.Name, c.HttpOnly, c.SameSite, c.Path)
		}
	}
	if !found {
		t.Fatal("no cookie set when a challenge starts")
	}
}

func TestHostCookiePrefixAndSecureOverHTTPS(t *testing.T) {
	r, _ := http.NewRequest("GET", "https://app.example/", nil)
	r.TLS = &tlsState
	if accounts.CookieName(r, accounts.SessionCookie) != "__Host-2fa_session" {
		t.Fatal("HTTPS cookies need the __Host- prefix")
	}
	w := httptestRecorder()
	accounts.SetCookie(w, r, accounts.SessionCookie, "v", 0)
	c := (&http.Response{Header: w.Header()}).Cookies()[0]
	if !c.Secure {
		t.Fatal("HTTPS cookie without Secure")
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	h.backend.down.Store(true)
	r := b.get("/reports")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
		t.Fatalf("store down, unverified user: %d %s", r.status, r.body)
	}
	if r := b.get("/api/x", "Accept", "application/json"); r.status != http.StatusUnauthorized && r.status != http.StatusServiceUnavailable {
		t.Fatalf("store down, API: %d", r.status)
	}
	if r := b.follow("/.2fa/"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("store down, challenge page: %d", r.status)
	}
	if h.upstream.Load() != 0 {
		t.Fatal("request reached upstream while the store was down")
	}
	h.backend.down.Store(false)
	b.enrollTOTP("/reports")
}

func TestVerifiedUserContinuesWhileStoreDown(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	b.get("/")
	h.backend.down.Store(true)
	if r := b.get("/x"); r.status != 200 {
		t.Fatalf("verified user refused while the store is down: %d", r.status)
	}
}

func TestPolicyUnreadableCountsAsEnforced(t *testing.T) {
	h := newHarness(t, func(_ *siteConfig, p *policy.Policy) { p.Enabled = false })
	h.backend.down.Store(true)
	if err := h.snap.Refresh(t.Context()); err == nil {
		t.Fatal("refresh with the store down must fail")
	}
	if !h.snap.Current().Enabled {
		t.Fatal("a policy that cannot be read must count as enforced")
	}
}

func TestTOTPMatchesRFC6238Vectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	// RFC 6238 appendix B, SHA-1; six-digit codes are the last six digits.
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		step, ok := totpMatch(seed, v.code, time.Unix(v.unix, 0))
		if !ok || step != v.unix/30 {
			t.Errorf("T=%d code %s: ok=%t step=%d", v.unix, v.code, ok, step)
		}
	}
}

// Browsers send "Origin: null" for a page's own forms when its referrer
// policy hides the referrer; Sec-Fetch-Site still tells the truth.
func TestCSRFOriginNullAcceptedOnlyFromSameOrigin(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	action, csrf := formOf(t, page.body)
	form := url.Values{"csrf": {csrf}, "code": {h.code(key, 0)}}
	if r := b.do(http.MethodPost, action, form, "Origin", "null", "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Fatalf("Origin null from another site: %d", r.status)
	}
	if r := b.do(http.MethodPost, action, form, "Origin", "null"); r.status != http.StatusForbidden {
		t.Fatalf("Origin null without fetch metadata: %d", r.status)
	}
	if r := b.do(http.MethodPost, action, form, "Origin", "null", "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("a same-origin form post from a browser: %d %s", r.status, r.body)
	}
}
