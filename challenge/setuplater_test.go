package challenge

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/policy"
)

func withSetupTime(days, skips int) func(*siteConfig, *policy.Policy) {
	return func(_ *siteConfig, p *policy.Policy) {
		p.Methods = []string{policy.MethodTOTP, policy.MethodEmail}
		p.Rollout = policy.Rollout{Mode: policy.SetupWithinDays, Days: days, Skips: skips}
	}
}

// enrolling: the page sets up a method (the choice, or the one method).
func enrolling(page reply) bool {
	return strings.Contains(page.body, `id="choose-totp"`) || strings.Contains(page.body, `id="totp-key"`)
}

// putOff walks an unverified request to the interstitial and presses
// "Remind me later", returning where it sends the user.
func (b *browser) putOff(path string) reply {
	b.h.t.Helper()
	page := b.follow(path)
	if !strings.Contains(page.body, `id="remind-later"`) {
		b.h.t.Fatalf("%s: no interstitial for %s:\n%s", b.user, path, page.body)
	}
	_, csrf, _ := htmltest.CodeForm(b.h.t, page.body)
	return b.do(http.MethodPost, b.h.cfg.PathPrefix+"/setup-later", url.Values{"csrf": {csrf}})
}

func TestUserInsideTheSetupPeriodPutsItOffKTimesThenMustEnroll(t *testing.T) {
	h := newHarness(t, withSetupTime(14, 2))
	for i, session := range []string{"s1", "s2"} {
		b := h.browser("bob", session)
		r := b.putOff("/reports")
		if r.status != http.StatusSeeOther || r.location != "/reports" {
			t.Fatalf("skip %d: %d %q", i+1, r.status, r.location)
		}
		// The app session passes now, without a code.
		before := h.upstream.Load()
		if r := b.get("/reports"); r.status != http.StatusOK || h.upstream.Load() != before+1 {
			t.Fatalf("after skip %d the app session should pass: %d", i+1, r.status)
		}
		h.advance(time.Hour)
	}
	// No skips left: the next app session must enroll.
	b := h.browser("bob", "s3")
	if page := b.follow("/reports"); !enrolling(page) || strings.Contains(page.body, "remind-later") {
		t.Fatalf("with no skips left bob must enroll:\n%s", page.body)
	}
	// Nor can a forged post put it off.
	page := b.follow(h.cfg.PathPrefix + "/enroll/totp")
	_, csrf, _ := htmltest.CodeForm(t, page.body)
	if r := b.do(http.MethodPost, h.cfg.PathPrefix+"/setup-later", url.Values{"csrf": {csrf}}); r.location != h.cfg.PathPrefix+"/enroll" {
		t.Fatalf("a skip past the limit: %d %q", r.status, r.location)
	}
	if r := b.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("no skip, no pass: %d", r.status)
	}
	events, _ := accounts.ListAudit(context.Background(), h.backend, h.cfg.Realm, "", 50)
	skips := 0
	for _, e := range events {
		if e.Action == "setup_postponed" && e.Subject == "bob" {
			skips++
		}
	}
	if skips != 2 {
		t.Fatalf("%d skips audited, want 2", skips)
	}
}

func TestAfterTheSetupDeadlineNoSkip(t *testing.T) {
	h := newHarness(t, withSetupTime(7, 5))
	b := h.browser("bob", "s1")
	b.putOff("/reports")
	h.advance(7*24*time.Hour + time.Minute)
	b = h.browser("bob", "s2")
	if page := b.follow("/reports"); strings.Contains(page.body, "remind-later") || !enrolling(page) {
		t.Fatalf("after the deadline bob must enroll:\n%s", page.body)
	}
}

func TestAdminsAreNeverGivenTimeToSetUp(t *testing.T) {
	h := newHarness(t, withSetupTime(30, 3))
	b := h.browser("alice", "s1")
	b.groups = "general_settings:manager"
	if page := b.follow("/reports"); strings.Contains(page.body, "remind-later") || !enrolling(page) {
		t.Fatalf("an admin was given time:\n%s", page.body)
	}
}

func TestPostponedSessionIsNeitherVerifiedNorFresh(t *testing.T) {
	h := newHarness(t, withSetupTime(30, 3))
	b := h.browser("bob", "s1")
	b.putOff("/reports")
	// The account pages want a pass, which a postponed session is not.
	for _, path := range []string{"/methods", "/devices"} {
		if r := b.get(h.cfg.PathPrefix + path); r.status == http.StatusOK && !enrolling(r) && !strings.Contains(r.body, "remind-later") {
			t.Fatalf("%s opened for a postponed session:\n%s", path, r.body)
		}
	}
}

func TestSetupLaterPageSaysTheDeadlineAndSkipsLeft(t *testing.T) {
	h := newHarness(t, withSetupTime(14, 3))
	page := h.browser("bob", "s1").follow("/reports")
	deadline := h.clock().Add(14*24*time.Hour - time.Second)
	for _, want := range []string{"14 days left", deadline.UTC().Format("2 January 2006"), "3 more times", `href="/.2fa/enroll"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the interstitial lacks %q:\n%s", want, page.body)
		}
	}
	de := h.browser("bob", "s2").follow2("/reports", "Accept-Language", "de")
	if !strings.Contains(de.body, "Später erinnern") || !strings.Contains(de.body, "14 Tage") {
		t.Errorf("the German interstitial:\n%s", de.body)
	}
}
