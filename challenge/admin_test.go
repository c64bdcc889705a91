package challenge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
)

// adminHarness: 2FA starts off, as in the help page; alice is an admin.
// Setup emails go through the durable queue into the outbox.
func adminHarness(t *testing.T, mutate ...func(*siteConfig, *policy.Policy)) (*outboxHarness, *notify.Queue) {
	t.Helper()
	h := newOutboxHarness(t, append([]func(*siteConfig, *policy.Policy){func(c *siteConfig, p *policy.Policy) {
		p.Enabled = false
		c.SiteURL = "https://app.acme.example"
		c.Queue = true
	}}, mutate...)...)
	return h, h.queue
}

func (h *outboxHarness) admin(appSession string) *browser {
	b := h.browser("alice", appSession)
	b.email = "alice@acme.example"
	b.groups = "general_settings:manager"
	return b
}

// propose fills the Enable/Edit dialog and returns the confirm page.
func (h *outboxHarness) propose(b *browser, methods []string, rememberDays int) reply {
	h.t.Helper()
	page := b.page("/.2fa/admin/edit")
	_, csrf := csrfOf(h.t, page.body)
	// Recovery codes are ticked, as the dialog shows them by default.
	form := url.Values{"csrf": {csrf}, "method": methods, "recovery": {"1"}}
	if rememberDays > 0 {
		form.Set("remember", "1")
		form.Set("remember_days", itoa(int64(rememberDays)))
	}
	r := b.do(http.MethodPost, "/.2fa/admin/edit", form)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/.2fa/admin/confirm?change=") {
		h.t.Fatalf("propose: %d %q %s", r.status, r.location, r.body)
	}
	confirm := b.page(r.location)
	if !strings.Contains(html.UnescapeString(confirm.body), "Copy the code, enter it, and click Verify") {
		h.t.Fatalf("code step: %s", confirm.body)
	}
	return confirm
}

// enable walks the help page: Enable, choose methods and remember me,
// get the code by email, Verify.
func (h *outboxHarness) enable(b *browser, methods []string, rememberDays int) reply {
	h.t.Helper()
	confirm := h.propose(b, methods, rememberDays)
	return b.submitCode(confirm, h.lastCode("email", "alice@acme.example"))
}

// passTOTP sets up an authenticator for b, so b is verified.
func (h *outboxHarness) passTOTP(b *browser) {
	h.t.Helper()
	page := b.follow("/.2fa/enroll/totp")
	key := htmltest.Text(page.body, "totp-key")
	if key == "" {
		h.t.Fatalf("no enrollment page:\n%s", page.body)
	}
	if r := b.submitCode(page, h.code(key, 0)); r.status != http.StatusSeeOther {
		h.t.Fatalf("enroll %s: %d %s", b.user, r.status, r.body)
	}
}

// enabledAdminHarness: 2FA already on (totp, email), alice verified.
func enabledAdminHarness(t *testing.T) (*outboxHarness, *browser) {
	h, _ := adminHarness(t, func(_ *siteConfig, p *policy.Policy) { p.Enabled = true; p.Methods = []string{"totp", "email"} })
	a := h.admin("a1")
	h.passTOTP(a)
	return h, a
}

func knownUser(h *outboxHarness, name string) *browser {
	b := h.browser(name, name+"-s1")
	b.email = name + "@acme.example"
	if r := b.get("/app"); r.status != 200 {
		h.t.Fatalf("2FA off: %s got %d", name, r.status)
	}
	return b
}

func TestAdminEnablesTwoFactorByTheHelpPageSteps(t *testing.T) {
	h, q := adminHarness(t)
	bob, carol := knownUser(h, "bob"), knownUser(h, "carol")
	a := h.admin("a1")
	home := a.page("/.2fa/admin")
	if !strings.Contains(home.body, "Two-Factor Authentication For All Users") || !strings.Contains(home.body, `id="enable"`) {
		t.Fatalf("admin page: %s", home.body)
	}
	r := h.enable(a, []string{"email", "totp"}, 30)
	if r.status != http.StatusOK || !strings.Contains(r.body, "enabled for all users") {
		t.Fatalf("success message missing: %d %s", r.status, r.body)
	}
	// The admin, too, passes 2FA before returning to the settings.
	if r := a.get("/.2fa/admin"); r.status != http.StatusSeeOther || r.location != "/.2fa/" {
		t.Fatalf("unverified admin after enabling: %d %q", r.status, r.location)
	}
	h.passTOTP(a)
	if home := a.page("/.2fa/admin"); !strings.Contains(home.body, `id="tfa-status"><strong>On</strong>`) {
		t.Fatalf("status card after enabling: %s", home.body)
	}
	p := h.snap.Current()
	if !p.Enabled || p.RememberDays != 30 || strings.Join(p.Ordered(), ",") != "totp,email" || p.ChangedBy != "alice" {
		t.Fatalf("policy: %+v", p)
	}
	// An app session open before the change is not cut off...
	if r := bob.get("/app"); r.status != 200 {
		t.Fatalf("bob's open app session must continue until his next login: %d", r.status)
	}
	// ...his next login must enroll.
	bob.newAppSession("bob-s2")
	if r := bob.get("/app"); r.status != http.StatusFound {
		t.Fatalf("bob's next login must be challenged: %d", r.status)
	}
	if page := bob.follow("/.2fa/"); !strings.Contains(page.body, "choose-totp") || !strings.Contains(page.body, "choose-email") || strings.Contains(page.body, "choose-sms") {
		t.Fatalf("bob must enroll with the enabled methods: %s", page.body)
	}
	// Every known user gets the setup instructions, once.
	waitFor(t, func() bool {
		prog, err := q.Progress(t.Context(), fmt.Sprintf("setup/default/v%d", p.Version))
		return err == nil && prog.Total >= 3
	}, "setup emails were not queued: "+h.logs.String())
	if err := q.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"bob@acme.example", "carol@acme.example", "alice@acme.example"} {
		if n := h.setupEmailsTo(to); n != 1 {
			t.Errorf("%s got %d setup emails, want 1", to, n)
		}
	}
	_ = carol
	events, _ := accounts.ListAudit(t.Context(), h.backend, "default", "", 10)
	if !hasEvent(events, "policy_changed", "alice") {
		t.Fatalf("audit: %+v", events)
	}
}

func (h *outboxHarness) setupEmailsTo(to string) int {
	msgs, _ := notify.ReadOutbox(h.dir)
	n := 0
	for _, m := range msgs {
		if m.To == to && strings.Contains(m.Subject, "requires two-factor") {
			n++
			if !strings.Contains(m.Text, "https://app.acme.example/") {
				h.t.Errorf("setup email lacks the configured site link: %s", m.Text)
			}
		}
	}
	return n
}

func hasEvent(events []accounts.AuditEvent, action, actor string) bool {
	for _, e := range events {
		if e.Action == action && e.Actor == actor {
			return true
		}
	}
	return false
}

func TestEnforceImmediatelyChallengesOpenSessions(t *testing.T) {
	h, _ := adminHarness(t, func(c *siteConfig, _ *policy.Policy) { c.EnforceImmediately = true })
	bob := knownUser(h, "bob")
	h.enable(h.admin("a1"), []string{"totp"}, 0)
	if r := bob.get("/app"); r.status != http.StatusFound {
		t.Fatalf("enforce immediately: open session must be challenged, got %d", r.status)
	}
}

// The note that lets an app session opened before 2FA continue is bound
// to its user and app session, also once it is cached: bob's note in
// carol's browser does not let her new app session skip enrollment.
func TestSeenNoteOfOneUserDoesNotCarryAnother(t *testing.T) {
	h, _ := adminHarness(t)
	bob, carol := knownUser(h, "bob"), knownUser(h, "carol")
	h.enable(h.admin("a1"), []string{"totp"}, 0)
	if r := bob.get("/app"); r.status != 200 { // bob's note is now cached
		t.Fatalf("bob's open app session: %d", r.status)
	}
	u, _ := url.Parse(h.srv.URL)
	var note *http.Cookie
	for _, c := range bob.client.Jar.Cookies(u) {
		if c.Name == accounts.SeenCookie {
			note = c
		}
	}
	if note == nil {
		t.Fatal("bob has no note of his app session")
	}
	carol.client.Jar.SetCookies(u, []*http.Cookie{{Name: accounts.SeenCookie, Value: note.Value, Path: "/"}})
	// A new app session of hers; and, were the app's tokens not unique,
	// the very token bob's note is bound to.
	for _, app := range []string{"carol-s2", "bob-s1"} {
		carol.newAppSession(app)
		if r := carol.get("/app"); r.status != http.StatusFound {
			t.Fatalf("carol with app session %q and bob's note: %d, want the challenge", app, r.status)
		}
	}
}

func TestAdminNonAdminGets403(t *testing.T) {
	h, _ := adminHarness(t)
	bob := knownUser(h, "bob")
	for _, p := range []string{"/.2fa/admin", "/.2fa/admin/edit", "/.2fa/admin/audit"} {
		if r := bob.get(p); r.status != http.StatusForbidden {
			t.Errorf("%s for a non-admin: %d", p, r.status)
		}
	}
	r := bob.do(http.MethodPost, "/.2fa/api/admin/proposals", nil, "Content-Type", "application/json")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `"error":"forbidden"`) {
		t.Fatalf("API for a non-admin: %d %s", r.status, r.body)
	}
	events, _ := accounts.ListAudit(t.Context(), h.backend, "default", "", 10)
	if !hasEvent(events, "admin_denied", "bob") {
		t.Fatal("refused admin access must be audited")
	}
}

func TestAdminMustPassTwoFactorWhileEnforced(t *testing.T) {
	h, _ := adminHarness(t)
	h.enable(h.admin("a1"), []string{"totp", "email"}, 0)
	a2 := h.admin("a2") // a new app session of the same admin
	if r := a2.get("/.2fa/admin"); r.status != http.StatusSeeOther || r.location != "/.2fa/" {
		t.Fatalf("unverified admin: %d %q", r.status, r.location)
	}
}

func TestAdminCodeWrongReusedOrForAnotherProposalRefused(t *testing.T) {
	h, a := enabledAdminHarness(t)
	first := h.propose(a, []string{"totp"}, 0)
	firstCode := h.lastCode("email", "alice@acme.example")
	time.Sleep(60 * time.Millisecond) // send cooldown
	second := h.propose(a, []string{"totp", "email"}, 7)
	secondCode := h.lastCode("email", "alice@acme.example")
	for firstCode == secondCode { // one in a million: propose again
		time.Sleep(60 * time.Millisecond)
		second = h.propose(a, []string{"totp", "email"}, 7)
		secondCode = h.lastCode("email", "alice@acme.example")
	}
	if r := a.submitCode(second, "000000"); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong code: %d", r.status)
	}
	if r := a.submitCode(second, firstCode); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a code for another proposal applied this one: %d", r.status)
	}
	if r := a.submitCode(second, secondCode); r.status != http.StatusOK || !strings.Contains(r.body, "settings saved") {
		t.Fatalf("right code: %d %s", r.status, r.body)
	}
	if got := h.snap.Current(); got.RememberDays != 7 {
		t.Fatalf("the confirmed proposal must apply exactly: %+v", got)
	}
	if r := a.submitCode(second, secondCode); r.status != http.StatusGone {
		t.Fatalf("a reused code: %d", r.status)
	}
	// The first proposal was based on the old version: stale now.
	if r := a.submitCode(first, firstCode); r.status != http.StatusConflict {
		t.Fatalf("a stale proposal: %d %s", r.status, r.body)
	}
	events, _ := accounts.ListAudit(t.Context(), h.backend, "default", "", 20)
	if !hasEvent(events, "policy_change_refused", "alice") {
		t.Fatal("the refused stale change must be audited")
	}
}

func TestTwoAdminsRacingOnlyOneChangeApplies(t *testing.T) {
	h, a := enabledAdminHarness(t)
	dave := h.browser("dave", "d1")
	dave.email, dave.groups = "dave@acme.example", "general_settings:manager"
	h.passTOTP(dave)
	pa := h.propose(a, []string{"totp"}, 0)
	codeA := h.lastCode("email", "alice@acme.example")
	page := dave.page("/.2fa/admin/edit")
	_, csrf := csrfOf(t, page.body)
	r := dave.do(http.MethodPost, "/.2fa/admin/edit", url.Values{"csrf": {csrf}, "method": {"email"}})
	pd := dave.page(r.location)
	codeD := h.lastCode("email", "dave@acme.example")
	if r := a.submitCode(pa, codeA); r.status != http.StatusOK {
		t.Fatalf("first admin: %d", r.status)
	}
	if r := dave.submitCode(pd, codeD); r.status != http.StatusConflict {
		t.Fatalf("second admin's change, based on the old version, must be refused: %d", r.status)
	}
	if got := h.snap.Current().Ordered(); strings.Join(got, ",") != "totp" {
		t.Fatalf("policy: %v", got)
	}
}

func TestAdminDisableNeedsTheCode(t *testing.T) {
	h, a := enabledAdminHarness(t)
	page := a.page("/.2fa/admin/disable")
	_, csrf := csrfOf(t, page.body)
	r := a.do(http.MethodPost, "/.2fa/admin/disable", url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if !h.snap.Current().Enabled {
		t.Fatal("disabled before the code was entered")
	}
	confirm := a.page(r.location)
	if r := a.submitCode(confirm, h.lastCode("email", "alice@acme.example")); r.status != http.StatusOK || !strings.Contains(r.body, "is disabled") {
		t.Fatalf("confirm disable: %d %s", r.status, r.body)
	}
	if h.snap.Current().Enabled {
		t.Fatal("still enabled after the code")
	}
}

func TestEditRemovingAUsersOnlyMethodMakesThemEnrollAgain(t *testing.T) {
	h, a := enabledAdminHarness(t)
	bob := h.browser("bob", "b1")
	bob.email = "bob@acme.example"
	enrollByEmail(t, h, bob)
	time.Sleep(60 * time.Millisecond)
	confirm := h.propose(a, []string{"totp"}, 0)
	a.submitCode(confirm, h.lastCode("email", "alice@acme.example"))
	bob.newAppSession("b2")
	bob.get("/x")
	if page := bob.follow("/.2fa/"); !strings.Contains(page.body, "totp-key") {
		t.Fatalf("bob's only method was removed: he must enroll again:\n%s", page.body)
	}
}

func TestAdminResetsUser(t *testing.T) {
	h, a := enabledAdminHarness(t)
	bob := h.browser("bob", "b1")
	bob.email = "bob@acme.example"
	enrollByEmail(t, h, bob)
	home := a.page("/.2fa/admin")
	_, csrf := csrfOf(t, home.body)
	r := a.do(http.MethodPost, "/.2fa/admin/users/reset", url.Values{"csrf": {csrf}, "user": {"bob"}})
	if r.status != 200 || !strings.Contains(r.body, "was reset for bob") {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if r := bob.get("/x"); r.status != http.StatusFound {
		t.Fatalf("a reset must end bob's sessions: %d", r.status)
	}
	if page := bob.follow("/.2fa/"); !strings.Contains(page.body, "choose-email") {
		t.Fatalf("bob must enroll again: %s", page.body)
	}
	msgs, _ := notify.ReadOutbox(h.dir)
	found := false
	for _, m := range msgs {
		if m.To == "bob@acme.example" && strings.Contains(m.Subject, "was reset") {
			found = true
		}
	}
	if !found {
		t.Fatal("bob must be told by email")
	}
}

func apiCall(t *testing.T, b *browser, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.h.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-User", b.user)
	req.Header.Set("X-Test-Email", b.email)
	req.Header.Set("X-Test-Groups", b.groups)
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestAdminAPIProposeConfirmUsersAuditReset(t *testing.T) {
	h, _ := adminHarness(t)
	knownUser(h, "bob")
	a := h.admin("a1")
	status, out := apiCall(t, a, "GET", "/.2fa/api/admin/policy", nil)
	if status != 200 || out["policy"] == nil {
		t.Fatalf("policy: %d %v", status, out)
	}
	status, out = apiCall(t, a, "POST", "/.2fa/api/admin/proposals", map[string]any{"enabled": true, "methods": []string{"totp", "sms"}, "remember_days": 14})
	if status != http.StatusCreated {
		t.Fatalf("propose: %d %v", status, out)
	}
	change := out["change_id"].(string)
	status, out = apiCall(t, a, "POST", "/.2fa/api/admin/proposals/"+change+"/confirm", map[string]any{"code": "000000"})
	if status != http.StatusUnprocessableEntity || out["error"] != "wrong_code" {
		t.Fatalf("wrong code: %d %v", status, out)
	}
	status, out = apiCall(t, a, "POST", "/.2fa/api/admin/proposals/"+change+"/confirm", map[string]any{"code": h.lastCode("email", "alice@acme.example")})
	if status != 200 {
		t.Fatalf("confirm: %d %v", status, out)
	}
	// 2FA is now on: the admin, too, must pass it before the next call.
	status, out = apiCall(t, a, "GET", "/.2fa/api/admin/users", nil)
	if status != http.StatusUnauthorized || out["error"] != "two_factor_required" {
		t.Fatalf("unverified admin after enabling: %d %v", status, out)
	}
	h.passTOTP(a)
	status, out = apiCall(t, a, "GET", "/.2fa/api/admin/users", nil)
	if status != 200 || len(out["users"].([]any)) < 2 {
		t.Fatalf("users: %d %v", status, out)
	}
	status, out = apiCall(t, a, "POST", "/.2fa/api/admin/users/bob/reset", map[string]any{})
	if status != 200 {
		t.Fatalf("reset: %d %v", status, out)
	}
	status, out = apiCall(t, a, "POST", "/.2fa/api/admin/users/nobody/reset", map[string]any{})
	if status != 404 || out["error"] != "no_such_user" {
		t.Fatalf("reset unknown: %d %v", status, out)
	}
	status, out = apiCall(t, a, "GET", "/.2fa/api/admin/audit?limit=5", nil)
	if status != 200 || len(out["events"].([]any)) == 0 {
		t.Fatalf("audit: %d %v", status, out)
	}
}

func TestAdminAPIRefusesFormPostsFromOtherSites(t *testing.T) {
	h, _ := adminHarness(t)
	a := h.admin("a1")
	r := a.do(http.MethodPost, "/.2fa/api/admin/proposals", url.Values{"enabled": {"false"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "bad_origin") {
		t.Fatalf("form post to the JSON API: %d %s", r.status, r.body)
	}
}

func TestPolicyNeedingSMSRefusedWithoutSender(t *testing.T) {
	h, _ := adminHarness(t, func(c *siteConfig, p *policy.Policy) { c.SMSSender = nil; p.Methods = []string{policy.MethodTOTP} })
	a := h.admin("a1")
	status, out := apiCall(t, a, "POST", "/.2fa/api/admin/proposals", map[string]any{"enabled": true, "methods": []string{"sms"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(out["message"].(string), "account manager") {
		t.Fatalf("SMS without a sender: %d %v", status, out)
	}
	page := a.page("/.2fa/admin/edit")
	if !strings.Contains(page.body, `id="method-sms" disabled`) && !strings.Contains(page.body, `value="sms" id="method-sms" disabled`) {
		t.Fatalf("the SMS checkbox must be disabled: %s", page.body)
	}
}
