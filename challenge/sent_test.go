package challenge

import (
	"bytes"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
)

// outboxHarness is a site whose email and SMS go to a file outbox (the
// real delivery used by the demo); the emulators of SES and SNS are
// exercised through Caddy in the integration tests.
type outboxHarness struct {
	*harness
	dir  string
	logs *bytes.Buffer
}

func newOutboxHarness(t *testing.T, mutate ...func(*siteConfig, *policy.Policy)) *outboxHarness {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outbox")
	box, err := notify.NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	h := newHarness(t, append([]func(*siteConfig, *policy.Policy){func(c *siteConfig, p *policy.Policy) {
		c.EmailSender, c.SMSSender = box, box
		c.EmailCooldown, c.SMSCooldown = 50*time.Millisecond, 50*time.Millisecond
		c.PhoneRegion = "US"
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))
		p.Methods = []string{policy.MethodTOTP, policy.MethodEmail, policy.MethodSMS}
	}}, mutate...)...)
	return &outboxHarness{harness: h, dir: dir, logs: logs}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// lastCode reads the newest message of a kind sent to an address and
// returns the code in it.
func (h *outboxHarness) lastCode(kind, to string) string {
	h.t.Helper()
	msgs, err := notify.ReadOutbox(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Kind == kind && m.To == to {
			if c := sixDigits.FindString(m.Text); c != "" {
				return c
			}
		}
	}
	h.t.Fatalf("no %s with a code to %s in the outbox", kind, to)
	return ""
}

func (h *outboxHarness) count(kind string) int {
	msgs, _ := notify.ReadOutbox(h.dir)
	n := 0
	for _, m := range msgs {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

// send presses "Send code" (or "Send a new code") on page.
func (b *browser) send(page reply, extra ...string) reply {
	b.h.t.Helper()
	_, csrf := csrfOf(b.h.t, page.body)
	form := url.Values{"csrf": {csrf}, "action": {"send"}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return b.do(http.MethodPost, pathOf(page), form)
}

func csrfOf(t *testing.T, body string) (string, string) {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in:\n%s", body)
	}
	return "", m[1]
}

func pathOf(page reply) string { return page.header.Get("X-Test-Path") }

func (b *browser) page(path string) reply {
	r := b.follow(path)
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set("X-Test-Path", path)
	return r
}

func TestEmailEnrollmentWithCodeFromOutbox(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	if r := b.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("want challenge, got %d", r.status)
	}
	choice := b.follow("/.2fa/")
	for _, id := range []string{"choose-totp", "choose-email", "choose-sms"} {
		if !strings.Contains(choice.body, id) {
			t.Errorf("enrollment choice lacks %s", id)
		}
	}
	page := b.page("/.2fa/enroll/email")
	if !strings.Contains(page.body, "b***@acme.example") {
		t.Fatalf("the page should show the masked address:\n%s", page.body)
	}
	if h.count("email") != 0 {
		t.Fatal("opening the page must not send anything")
	}
	r := b.send(page)
	if r.status != http.StatusSeeOther {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	page = b.page("/.2fa/enroll/email")
	if !strings.Contains(page.body, "We sent a 6-digit code") {
		t.Fatalf("after sending: %s", page.body)
	}
	r = b.savedRecoveryCodes(b.submitCode(page, h.lastCode("email", "bob@acme.example")))
	if r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("email enrollment: %d %q %s", r.status, r.location, r.body)
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "bob")
	e, ok := u.Enrollment(policy.MethodEmail)
	if !ok || e.Target != "bob@acme.example" || u.Preferred != policy.MethodEmail {
		t.Fatalf("enrollment stored: %+v", u)
	}
}

func enrollByEmail(t *testing.T, h *outboxHarness, b *browser) {
	t.Helper()
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	b.send(page)
	page = b.page("/.2fa/enroll/email")
	if r := b.submitCode(page, h.lastCode("email", b.email)); r.status != http.StatusSeeOther {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
}

func TestVerifyByEmailOffersOtherMethods(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	enrollByEmail(t, h, b)
	// Also enroll TOTP as a verified user, from the methods page.
	methods := b.page("/.2fa/methods")
	if !strings.Contains(methods.body, "add-totp") || strings.Contains(strings.ToLower(methods.body), "disable") {
		t.Fatalf("methods page: %s", methods.body)
	}
	h.advance(31 * time.Second)
	totpPage := b.page("/.2fa/enroll/totp")
	key := htmltest.Text(totpPage.body, "totp-key")
	if r := b.submitCode(totpPage, h.code(key, 0)); r.status != http.StatusSeeOther {
		t.Fatalf("add TOTP: %d %s", r.status, r.body)
	}
	// New app session: preferred is now TOTP (last enrolled), email offered.
	c := h.browser("bob", "s2")
	c.email = "bob@acme.example"
	c.get("/x")
	page := c.follow("/.2fa/")
	if !strings.Contains(page.body, "other-email") {
		t.Fatalf("verify page should offer email as another method:\n%s", page.body)
	}
	page = c.page("/.2fa/verify/email")
	time.Sleep(60 * time.Millisecond) // the enrollment's send cooldown
	c.send(page)
	page = c.page("/.2fa/verify/email")
	if r := c.submitCode(page, h.lastCode("email", "bob@acme.example")); r.status != http.StatusSeeOther || r.location != "/x" {
		t.Fatalf("verify by email: %d %q", r.status, r.location)
	}
}

func TestMethodsPageChangesPreferredMethod(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	enrollByEmail(t, h, b)
	h.advance(31 * time.Second)
	totpPage := b.page("/.2fa/enroll/totp")
	b.submitCode(totpPage, h.code(htmltest.Text(totpPage.body, "totp-key"), 0))
	page := b.page("/.2fa/methods")
	_, csrf := csrfOf(t, page.body)
	r := b.do(http.MethodPost, "/.2fa/methods", url.Values{"csrf": {csrf}, "preferred": {"email"}})
	if r.status != 200 || !strings.Contains(r.body, `id="preferred-email"`) {
		t.Fatalf("make email preferred: %d %s", r.status, r.body)
	}
}

func TestSMSEnrollmentWithTypedNumber(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("carol", "s1")
	b.get("/")
	page := b.page("/.2fa/enroll/sms")
	if !strings.Contains(page.body, `autocomplete="tel"`) {
		t.Fatalf("SMS enrollment should ask for a number: %s", page.body)
	}
	r := b.send(page, "phone", "not a number")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "country code") {
		t.Fatalf("invalid number: %d %s", r.status, r.body)
	}
	if h.count("sms") != 0 {
		t.Fatal("a text was sent for an invalid number")
	}
	if r := b.send(page, "phone", "(415) 555-0134"); r.status != http.StatusSeeOther {
		t.Fatalf("send to typed number: %d %s", r.status, r.body)
	}
	page = b.page("/.2fa/enroll/sms")
	if !strings.Contains(html.UnescapeString(page.body), "+1******0134") {
		t.Fatalf("masked number missing: %s", page.body)
	}
	if r := b.submitCode(page, h.lastCode("sms", "+14155550134")); r.status != http.StatusSeeOther {
		t.Fatalf("SMS enrollment: %d %s", r.status, r.body)
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "carol")
	if e, ok := u.Enrollment(policy.MethodSMS); !ok || e.Target != "+14155550134" {
		t.Fatalf("SMS enrollment stored: %+v", u)
	}
}

func TestSMSEnrollmentUsesTheNumberTheAppKnows(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("carol", "s1")
	b.phone = "+14155550103"
	b.get("/")
	page := b.page("/.2fa/enroll/sms")
	if !strings.Contains(html.UnescapeString(page.body), "+1******0103") {
		t.Fatalf("known number should be offered: %s", page.body)
	}
	b.send(page)
	if h.lastCode("sms", "+14155550103") == "" {
		t.Fatal("no text sent")
	}
}

func TestSMSToDisallowedCountryRefused(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) { c.SMSCountries = []int{1} })
	b := h.browser("carol", "s1")
	b.get("/")
	page := b.page("/.2fa/enroll/sms")
	r := b.send(page, "phone", "+44 20 7946 0958")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "country") {
		t.Fatalf("disallowed country: %d %s", r.status, r.body)
	}
	if h.count("sms") != 0 {
		t.Fatal("a text was sent to a disallowed country")
	}
}

func TestSMSUnavailableWithoutSenderIsShownAsSuch(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, p *policy.Policy) {
		c.SMSSender = nil
		p.Methods = []string{policy.MethodTOTP, policy.MethodEmail}
	})
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	page := b.follow("/.2fa/enroll")
	if strings.Contains(page.body, "choose-sms") || !strings.Contains(page.body, "sms-unavailable") {
		t.Fatalf("SMS must be shown as unavailable: %s", page.body)
	}
	if r := b.get("/.2fa/enroll/sms"); r.status != http.StatusSeeOther {
		t.Fatalf("SMS page without a sender: %d", r.status)
	}
}

func TestResendWithinCooldownRefused(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) { c.EmailCooldown = time.Hour })
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	b.send(page)
	page = b.page("/.2fa/enroll/email")
	if !strings.Contains(page.body, "You can ask for a new code in") {
		t.Fatalf("the resend button should show its cooldown: %s", page.body)
	}
	r := b.send(page)
	if r.status != http.StatusTooManyRequests || h.count("email") != 1 {
		t.Fatalf("resend within cooldown: %d, %d emails", r.status, h.count("email"))
	}
}

func TestResendReplacesPreviousCode(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	b.send(page)
	first := h.lastCode("email", "bob@acme.example")
	time.Sleep(60 * time.Millisecond)
	page = b.page("/.2fa/enroll/email")
	if r := b.send(page); r.status != http.StatusSeeOther {
		t.Fatalf("resend after cooldown: %d %s", r.status, r.body)
	}
	second := h.lastCode("email", "bob@acme.example")
	for first == second { // one in a million: send once more
		time.Sleep(60 * time.Millisecond)
		b.send(b.page("/.2fa/enroll/email"))
		second = h.lastCode("email", "bob@acme.example")
	}
	page = b.page("/.2fa/enroll/email")
	if r := b.submitCode(page, first); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("replaced code accepted: %d", r.status)
	}
	if r := b.submitCode(page, second); r.status != http.StatusSeeOther {
		t.Fatalf("new code refused: %d", r.status)
	}
}

func TestEmailSendCapPerHour(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) { c.EmailCooldown = time.Millisecond })
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	var r reply
	for range 6 {
		time.Sleep(5 * time.Millisecond)
		r = b.send(page)
	}
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "too many codes") || h.count("email") != 5 {
		t.Fatalf("6th email in an hour: %d, %d sent", r.status, h.count("email"))
	}
}

func TestSMSPumpingCapPerNumberAcrossUsers(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) { c.SMSCooldown = time.Millisecond })
	for i := range 12 {
		b := h.browser("pump"+string(rune('a'+i)), "s")
		b.get("/")
		page := b.page("/.2fa/enroll/sms")
		b.send(page, "phone", "+1 415 555 0199")
	}
	if n := h.count("sms"); n != 10 {
		t.Fatalf("texts to one number across users in a day: %d, want the cap of 10", n)
	}
}

func TestSMSPumpingResendsPerUserCapped(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) { c.SMSCooldown = time.Millisecond })
	b := h.browser("carol", "s1")
	b.get("/")
	page := b.page("/.2fa/enroll/sms")
	for range 20 {
		time.Sleep(3 * time.Millisecond)
		b.send(page, "phone", "+1 415 555 0177")
	}
	if n := h.count("sms"); n != 5 {
		t.Fatalf("texts per user per hour: %d, want 5", n)
	}
}

func TestDeliveryFailureGrantsNothingAndBurnsNoAttempt(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	// Break the outbox: its folder becomes a file.
	os.RemoveAll(h.dir)
	os.WriteFile(h.dir, nil, 0o600)
	r := b.send(page)
	if r.status != http.StatusBadGateway || !strings.Contains(html.UnescapeString(r.body), "couldn't send the code") {
		t.Fatalf("delivery failure: %d %s", r.status, r.body)
	}
	if !strings.Contains(h.logs.String(), "could not send") {
		t.Error("the operator should see the delivery error in the log")
	}
	if n, _, _ := h.backend.Incr(t.Context(), h.userFailKey("bob"), 0, time.Minute); n != 0 {
		t.Fatalf("a delivery failure burned %d attempts", n)
	}
	// Mended: sending works at once (no cooldown from the failed send).
	os.Remove(h.dir)
	box, _ := notify.NewOutbox(h.dir)
	_ = box
	if r := b.send(page); r.status != http.StatusSeeOther {
		t.Fatalf("retry after the outage: %d %s", r.status, r.body)
	}
	if h.upstream.Load() != 0 {
		t.Fatal("upstream reached")
	}
}

func TestCodeOfOneUserRefusedForAnother(t *testing.T) {
	h := newOutboxHarness(t)
	a := h.browser("alice", "s1")
	a.email = "alice@acme.example"
	a.get("/")
	a.send(a.page("/.2fa/enroll/email"))
	code := h.lastCode("email", "alice@acme.example")
	b := h.browser("bob", "s2")
	b.email = "bob@acme.example"
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	b.send(page)
	for code == h.lastCode("email", "bob@acme.example") { // one in a million: send bob another
		time.Sleep(60 * time.Millisecond)
		b.send(b.page("/.2fa/enroll/email"))
	}
	page = b.page("/.2fa/enroll/email")
	if r := b.submitCode(page, code); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("alice's code accepted for bob: %d", r.status)
	}
}

func TestEnrollCodeRefusedForLogin(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	b.send(b.page("/.2fa/enroll/email"))
	code := h.lastCode("email", "bob@acme.example")
	// Same flow, but the login page of the method: the code was for enroll.
	if _, ok, _ := h.codes.Take(t.Context(), sentcode.Code{Challenge: "x", User: "bob", Method: policy.MethodEmail, Purpose: sentcode.Login}, code); ok {
		t.Fatal("a code for enrollment passed as a login code")
	}
}

func TestEmailCodeParallelSubmissionsOneSuccess(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	b.send(b.page("/.2fa/enroll/email"))
	page := b.page("/.2fa/enroll/email")
	code := h.lastCode("email", "bob@acme.example")
	action, csrf := formOf(t, page.body)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {code}})
			// A success goes on to the new recovery codes; a late request
			// may instead be sent to verify, as the user now has a method.
			if r.status == http.StatusSeeOther && r.location == "/.2fa/recovery-codes" {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("one emailed code succeeded %d times", wins)
	}
}

func TestEmailCodeExpires(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) { c.CodeLifetime = 200 * time.Millisecond })
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	b.get("/")
	b.send(b.page("/.2fa/enroll/email"))
	page := b.page("/.2fa/enroll/email")
	time.Sleep(300 * time.Millisecond)
	if r := b.submitCode(page, h.lastCode("email", "bob@acme.example")); r.status == http.StatusSeeOther {
		t.Fatal("expired code accepted")
	}
}

func TestMethodAddedNoticeEmailed(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("bob", "s1")
	b.email = "bob@acme.example"
	enrollByEmail(t, h, b)
	msgs, _ := notify.ReadOutbox(h.dir)
	last := msgs[len(msgs)-1]
	if last.To != "bob@acme.example" || !strings.Contains(strings.ToLower(last.Subject+last.Text), "added") {
		t.Fatalf("want a method-added notice, got %+v", last)
	}
}

func TestLogsHoldNoCodeOrFullAddress(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("carol", "s1")
	b.email = "carol@acme.example"
	b.get("/")
	page := b.page("/.2fa/enroll/sms")
	b.send(page, "phone", "+1 415 555 0142")
	code := h.lastCode("sms", "+14155550142")
	page = b.page("/.2fa/enroll/sms")
	b.submitCode(page, "000000")
	b.submitCode(page, code)
	logs := h.logs.String()
	for _, secret := range []string{code, "+14155550142", "4155550142", "carol@acme.example"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "+1******0142") {
		t.Errorf("logs should name the masked number:\n%s", logs)
	}
}
