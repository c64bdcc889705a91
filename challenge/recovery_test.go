package challenge

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/orgadmin"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/recovery"
)

var shownCode = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)

// enrollKeepingCodes is a first login that enrolls the authenticator app
// (trusting the device when the form has more, "remember", "1") and saves
// the recovery codes shown after it.
func (b *browser) enrollKeepingCodes(path string, more ...string) (key string, codes []string) {
	b.h.t.Helper()
	key, page := b.startEnrollment(path)
	action, csrf := formOf(b.h.t, page.body)
	form := url.Values{"csrf": {csrf}, "code": {b.h.code(key, 0)}}
	for i := 0; i+1 < len(more); i += 2 {
		form.Set(more[i], more[i+1])
	}
	r := b.do(http.MethodPost, action, form)
	if r.status != http.StatusSeeOther || r.location != b.h.cfg.PathPrefix+"/recovery-codes" {
		b.h.t.Fatalf("a first enrollment should go on to its recovery codes, got %d %q", r.status, r.location)
	}
	page = b.follow(r.location)
	for _, m := range shownCode.FindAllStringSubmatch(page.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != recovery.Count {
		b.h.t.Fatalf("shown %d recovery codes, want %d:\n%s", len(codes), recovery.Count, page.body)
	}
	_, csrf = csrfOf(b.h.t, page.body)
	if r := b.do(http.MethodPost, b.h.cfg.PathPrefix+"/recovery-codes", url.Values{"csrf": {csrf}, "saved": {"1"}}); r.status != http.StatusSeeOther || r.location != path {
		b.h.t.Fatalf("after saving the codes: want 303 to %s, got %d %q", path, r.status, r.location)
	}
	return key, codes
}

// useRecoveryCode signs a new app session in with a recovery code.
func (b *browser) useRecoveryCode(code string) reply {
	b.h.t.Helper()
	page := b.follow(b.h.cfg.PathPrefix + "/verify/recovery")
	action, csrf := formOf(b.h.t, page.body)
	return b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {code}})
}

func TestRecoveryCodesAreShownOnceAndStoredOnlyAsKeyedHashes(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	if r := b.submitCode(page, h.code(key, 0)); r.location != "/.2fa/recovery-codes" {
		t.Fatalf("after a first enrollment: %q", r.location)
	}
	var codes []string
	for _, m := range shownCode.FindAllStringSubmatch(b.follow("/.2fa/recovery-codes").body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != recovery.Count {
		t.Fatalf("%d codes shown", len(codes))
	}
	// A reload (or a script in the app's pages, fetching it after the
	// user) finds no codes.
	again := b.follow("/.2fa/recovery-codes")
	if len(shownCode.FindAllString(again.body, -1)) != 0 || htmltest.Text(again.body, "codes-gone") == "" {
		t.Fatalf("a second visit shows codes again:\n%s", again.body)
	}
	_, csrf := csrfOf(t, again.body)
	if r := b.do(http.MethodPost, "/.2fa/recovery-codes", url.Values{"csrf": {csrf}}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("going on without ticking the box: %d", r.status)
	}
	if r := b.do(http.MethodPost, "/.2fa/recovery-codes", url.Values{"csrf": {csrf}, "saved": {"1"}}); r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("going on: %d %q", r.status, r.location)
	}
	dump := dumpStore(t, h)
	for _, c := range codes {
		if strings.Contains(dump, c) || strings.Contains(dump, strings.ReplaceAll(c, "-", "")) {
			t.Fatalf("recovery code %s is in the store in clear", c)
		}
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if u.Recovery == nil || u.Recovery.Left() != recovery.Count {
		t.Fatalf("stored set: %+v", u.Recovery)
	}
	if n := auditCount(t, h.harness, "recovery_codes_generated"); n != 1 {
		t.Fatalf("%d recovery_codes_generated events, want 1", n)
	}
}

func TestRecoveryCodeSignsInOnceRevokesTrustedDevicesAndTellsTheUser(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	_, codes := b.enrollKeepingCodes("/reports", "remember", "1")
	if devices, _ := accounts.ListDevices(t.Context(), h.backend, "default", "alice"); len(devices) != 1 {
		t.Fatalf("%d trusted devices, want 1", len(devices))
	}
	// Another browser, without the trusted device.
	b = h.browser("alice", "s2")
	b.email = "alice@acme.example"
	b.get("/reports") // challenged: a new app session
	r := b.useRecoveryCode(codes[4])
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/.2fa/recovery-codes/used?next=") {
		t.Fatalf("recovery code: %d %q\n%s", r.status, r.location, r.body)
	}
	used := b.follow(r.location)
	if left := htmltest.Text(used.body, "codes-left"); !strings.Contains(left, "9 recovery codes left") {
		t.Fatalf("used page says %q", left)
	}
	if htmltest.Text(used.body, "make-new-set") != "" {
		t.Fatal("9 codes left, but the page asks for a new set")
	}
	if got := b.get("/reports"); got.status != http.StatusOK {
		t.Fatalf("after the recovery code: %d", got.status)
	}
	devices, err := accounts.ListDevices(t.Context(), h.backend, "default", "alice")
	if err != nil || len(devices) != 0 {
		t.Fatalf("trusted devices after a recovery code: %d %v", len(devices), err)
	}
	if !mailedTo(t, h, "alice@acme.example", "A recovery code was used") {
		t.Fatal("no email about the recovery code")
	}
	b.newAppSession("s3")
	b.get("/reports")
	if r := b.useRecoveryCode(codes[4]); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a used recovery code again: %d %q", r.status, r.location)
	}
	if r := b.useRecoveryCode(strings.ToLower(codes[5])); r.status == http.StatusSeeOther && strings.ToLower(codes[5]) != codes[5] {
		t.Fatal("a recovery code typed in the wrong case was accepted")
	}
}

func TestTwentyParallelUsesOfOneRecoveryCodeSucceedOnce(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.UserFailLimit, c.MaxCodeAttempts = 100, 100 })
	b := h.browser("alice", "s1")
	_, codes := b.enrollKeepingCodes("/")
	b.newAppSession("s2")
	b.get("/")
	page := b.follow("/.2fa/verify/recovery")
	action, csrf := formOf(t, page.body)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Go(func() {
			r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {codes[0]}})
			if r.status == http.StatusSeeOther && strings.HasPrefix(r.location, "/.2fa/recovery-codes/used") {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if wins != 1 || u.Recovery.Left() != recovery.Count-1 {
		t.Fatalf("20 parallel uses of one code: %d successes, %d codes left", wins, u.Recovery.Left())
	}
}

func TestLostPhoneJourneyRecoveryCodeThenNewAuthenticator(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	oldKey, codes := b.enrollKeepingCodes("/")
	// The phone is gone: a new app session, and only the paper.
	h.advance(time.Hour)
	b.newAppSession("s2")
	b.get("/")
	if r := b.useRecoveryCode(codes[0]); r.status != http.StatusSeeOther {
		t.Fatalf("recovery code: %d", r.status)
	}
	// Fresh from the recovery code: the new authenticator needs no other.
	page := b.follow("/.2fa/enroll/totp")
	newKey := htmltest.Text(page.body, "totp-key")
	if newKey == "" || newKey == oldKey {
		t.Fatalf("no new key offered after a recovery code:\n%s", page.body)
	}
	if r := b.submitCode(page, h.code(newKey, 0)); r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("new authenticator: %d %q (a user who has codes gets no new set)", r.status, r.location)
	}
	h.advance(time.Minute)
	b.newAppSession("s3")
	b.get("/")
	verifyPage := b.follow("/.2fa/verify/totp")
	if r := b.submitCode(verifyPage, h.code(oldKey, 0)); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("the lost phone's code: %d, want refused", r.status)
	}
	verifyPage = b.follow("/.2fa/verify/totp")
	if r := b.submitCode(verifyPage, h.code(newKey, 0)); r.status != http.StatusSeeOther {
		t.Fatalf("the new phone's code: %d", r.status)
	}
}

func TestNewRecoverySetNeedsAFreshCodeAndEndsTheOldOne(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	key, old := b.enrollKeepingCodes("/")
	h.advance(2 * time.Hour)
	r := b.get("/.2fa/recovery-codes/new")
	if r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("a new set from a 2-hour-old pass: %d %q, want a fresh code first", r.status, r.location)
	}
	page := b.follow("/.2fa/verify/totp")
	if r := b.submitCode(page, h.code(key, 0)); r.status != http.StatusSeeOther || r.location != "/.2fa/recovery-codes/new" {
		t.Fatalf("step-up: %d %q", r.status, r.location)
	}
	confirm := b.follow("/.2fa/recovery-codes/new")
	_, csrf := csrfOf(t, confirm.body)
	if r := b.do(http.MethodPost, "/.2fa/recovery-codes/new", url.Values{"csrf": {csrf}}); r.status != http.StatusSeeOther || r.location != "/.2fa/recovery-codes" {
		t.Fatalf("new set: %d %q", r.status, r.location)
	}
	shown := b.follow("/.2fa/recovery-codes")
	fresh := shownCode.FindAllStringSubmatch(shown.body, -1)
	if len(fresh) != recovery.Count {
		t.Fatalf("the new set shows %d codes", len(fresh))
	}
	h.advance(time.Minute)
	b.newAppSession("s2")
	b.get("/")
	if r := b.useRecoveryCode(old[1]); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a code of the old set: %d, want refused", r.status)
	}
	if r := b.useRecoveryCode(fresh[1][1]); r.status != http.StatusSeeOther {
		t.Fatalf("a code of the new set: %d", r.status)
	}
	if n := auditCount(t, h, "recovery_codes_regenerated"); n != 1 {
		t.Fatalf("%d regenerate events", n)
	}
}

func TestRecoveryCodesLowLeftAsksForANewSet(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.UserFailLimit = 100 })
	b := h.browser("alice", "s1")
	_, codes := b.enrollKeepingCodes("/")
	var used reply
	for i := range recovery.Count - recovery.RemindAt {
		b.newAppSession("s" + itoa(int64(i+2)))
		b.get("/")
		used = b.follow(b.useRecoveryCode(codes[i]).location)
	}
	if htmltest.Text(used.body, "make-new-set") == "" || htmltest.AttrByID(used.body, "new-codes", "href") != "/.2fa/recovery-codes/new" {
		t.Fatalf("%d codes left, but no ask for a new set:\n%s", recovery.RemindAt, used.body)
	}
}

func TestAdminResetDeletesRecoveryCodes(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	_, codes := b.enrollKeepingCodes("/")
	if err := h.admin.ResetUser(t.Context(), orgadmin.Operator, "alice"); err != nil {
		t.Fatal(err)
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if u.Recovery != nil {
		t.Fatal("recovery codes survive an admin reset")
	}
	b.newAppSession("s2")
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("after the reset: %d", r.status)
	}
	if r := b.get("/.2fa/verify/recovery"); r.status != http.StatusSeeOther || r.location != "/.2fa/" {
		t.Fatalf("the recovery page of a reset user: %d %q, want back to the start", r.status, r.location)
	}
	_, csrf := csrfOf(t, b.follow("/.2fa/enroll/totp").body)
	if r := b.do(http.MethodPost, "/.2fa/verify/recovery", url.Values{"csrf": {csrf}, "code": {codes[0]}}); r.status != http.StatusSeeOther || r.location != "/.2fa/" {
		t.Fatalf("a code of the reset set: %d %q, want back to the start", r.status, r.location)
	}
}

func TestRecoveryCodesOffAreNeitherMadeNorAccepted(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	_, codes := b.enrollKeepingCodes("/")
	turnOff := *h.snap.Current()
	turnOff.RecoveryCodesOff = true
	if _, err := h.admin.ReplacePolicy(t.Context(), orgadmin.Operator, -1, turnOff); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !h.snap.Current().OffersRecovery() }, "the policy snapshot to follow")
	b.newAppSession("s2")
	b.get("/")
	verify := b.follow("/.2fa/verify/totp")
	if strings.Contains(verify.body, "/.2fa/verify/recovery") {
		t.Fatal("the verify page offers recovery codes the policy turned off")
	}
	if r := b.get("/.2fa/verify/recovery"); r.status != http.StatusSeeOther {
		t.Fatalf("recovery page while off: %d", r.status)
	}
	_, csrf := csrfOf(t, verify.body)
	if r := b.do(http.MethodPost, "/.2fa/verify/recovery", url.Values{"csrf": {csrf}, "code": {codes[0]}}); r.status != http.StatusSeeOther || r.location != "/.2fa/" {
		t.Fatalf("a saved code while they are off: %d %q, want back to the start", r.status, r.location)
	}
	if u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice"); u.Recovery.Left() != recovery.Count {
		t.Fatal("a recovery code was spent while they are off")
	}
	carol := h.browser("carol", "c1")
	key, page := carol.startEnrollment("/")
	if r := carol.submitCode(page, h.code(key, 0)); r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("carol's enrollment with recovery codes off: %d %q, want straight back", r.status, r.location)
	}
	if u, _ := accounts.GetUser(t.Context(), h.backend, "default", "carol"); u.Recovery != nil {
		t.Fatal("recovery codes made while the policy turns them off")
	}
}

func TestStepUpAsksForTheStrongestMethod(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.enrollKeepingCodes("/")
	if _, err := accounts.UpdateUser(t.Context(), h.backend, "default", "bob", func(u *accounts.User) error {
		u.SetEnrollment(accounts.Enrollment{Method: policy.MethodEmail, Target: "bob@acme.example", EnrolledAt: h.clock()})
		u.Preferred = policy.MethodEmail
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.advance(2 * time.Hour)
	if r := b.get("/.2fa/enroll/sms"); r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("adding a phone from a 2-hour-old pass: %d %q, want a step-up", r.status, r.location)
	}
	if r := b.get("/.2fa/verify"); r.location != "/.2fa/verify/totp" {
		t.Fatalf("the step-up goes to %q, want the authenticator app (stronger than the preferred email)", r.location)
	}
}

func auditCount(t *testing.T, h *harness, action string) int {
	t.Helper()
	events, err := accounts.ListAudit(t.Context(), h.backend, "default", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == action {
			n++
		}
	}
	return n
}

func mailedTo(t *testing.T, h *outboxHarness, to, subject string) bool {
	t.Helper()
	msgs, err := notify.ReadOutbox(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.To == to && strings.Contains(m.Subject, subject) {
			return true
		}
	}
	return false
}
