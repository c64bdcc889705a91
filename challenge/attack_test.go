package challenge

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// One test per known attack on 2FA gateways, at the level of the pages and
// the gate; the same attacks through Caddy are in caddymodule.

func TestBruteForceFiftyParallelWrongCodesCountFifty(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) {
		c.UserFailLimit = 1000
		c.IPFailLimit = 1000
		c.MaxCodeAttempts = 10
	})
	h.browser("alice", "s0").enrollTOTP("/")
	before, _, _ := h.backend.Incr(t.Context(), h.userFailKey("alice"), 0, time.Hour)
	var wg sync.WaitGroup
	for i := range 50 {
		b := h.browser("alice", "p"+itoa(int64(i)))
		page := b.follow("/")
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.submitCode(page, "000000")
		}()
	}
	wg.Wait()
	n, _, err := h.backend.Incr(t.Context(), h.userFailKey("alice"), 0, time.Hour)
	if err != nil || n-before != 50 {
		t.Fatalf("50 parallel wrong codes counted %d (%v)", n-before, err)
	}
}

func TestXSSPayloadsEscapedEverywhere(t *testing.T) {
	const payload = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	h := newOutboxHarness(t, func(_ *siteConfig, p *policy.Policy) { p.RememberDays = 30 })
	b := h.browser("x"+payload, "s1")
	b.email = "a" + payload + "@acme.example"
	b.phone = "+1" + payload
	b.groups = "general_settings:manager"
	pages := []string{
		"/.2fa/", "/.2fa/enroll", "/.2fa/enroll/totp", "/.2fa/enroll/email", "/.2fa/enroll/sms",
		"/.2fa/" + url.PathEscape(payload), "/.2fa/verify?x=" + url.QueryEscape(payload), "/.2fa/admin",
	}
	b.get("/" + url.PathEscape(payload) + "?q=" + url.QueryEscape(payload))
	for _, p := range pages {
		r := b.do(http.MethodGet, p, nil, "Referer", "https://evil.example/"+payload, "User-Agent", payload)
		for _, bad := range []string{"<script>alert(1)", "<img src=x onerror"} {
			if strings.Contains(r.body, bad) {
				t.Errorf("%s: unescaped payload in the page:\n%s", p, r.body)
			}
		}
	}
	// The devices page shows a summary of the User-Agent, never the raw
	// header; the admin users table shows ids and emails escaped.
	b.rememberedLoginAs(payload)
	for _, p := range []string{"/.2fa/devices", "/.2fa/admin", "/.2fa/admin/audit", "/.2fa/methods"} {
		r := b.do(http.MethodGet, p, nil, "User-Agent", payload)
		if strings.Contains(r.body, "<script>alert(1)") || strings.Contains(r.body, "<img src=x onerror") {
			t.Errorf("%s: unescaped payload:\n%s", p, r.body)
		}
	}
}

// rememberedLoginAs enrolls TOTP with remember-me, sending ua.
func (b *browser) rememberedLoginAs(ua string) string {
	b.h.t.Helper()
	b.get("/")
	page := b.follow("/.2fa/enroll/totp")
	key := htmltest.Text(page.body, "totp-key")
	action, csrf := formOf(b.h.t, page.body)
	r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {b.h.code(key, 0)}, "remember": {"1"}}, "User-Agent", ua)
	if r.status != http.StatusSeeOther {
		b.h.t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	return key
}

func TestCSRFEveryPostWithoutTokenOrFromAnotherSiteRefused(t *testing.T) {
	h := newOutboxHarness(t, func(_ *siteConfig, p *policy.Policy) { p.RememberDays = 30 })
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	b.groups = "general_settings:manager"
	b.enrollTOTP("/")
	// A valid token of this browser, to show the Origin check alone refuses.
	_, token := csrfOf(t, b.page("/.2fa/devices").body)
	for _, p := range []string{
		"/.2fa/", "/.2fa/enroll", "/.2fa/enroll/totp", "/.2fa/enroll/email", "/.2fa/enroll/sms",
		"/.2fa/verify", "/.2fa/verify/totp", "/.2fa/verify/email", "/.2fa/verify/sms", "/.2fa/methods",
		"/.2fa/devices", "/.2fa/admin/edit", "/.2fa/admin/disable", "/.2fa/admin/confirm",
		"/.2fa/admin/users/reset", "/.2fa/admin/users/revoke",
	} {
		form := url.Values{"code": {"123456"}, "action": {"send"}, "preferred": {"email"}, "method": {"totp"}, "user": {"bob"}}
		if r := b.do(http.MethodPost, p, form); r.status != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d", p, r.status)
		}
		form.Set("csrf", token)
		if r := b.do(http.MethodPost, p, form, "Origin", "https://evil.example"); r.status != http.StatusForbidden {
			t.Errorf("POST %s from another site: %d", p, r.status)
		}
	}
}

func TestEnrollmentHijackCannotChangePhoneWithoutPassing(t *testing.T) {
	h := newOutboxHarness(t)
	victim := h.browser("carol", "s1")
	victim.phone = "+14155550103"
	victim.get("/")
	page := victim.page("/.2fa/enroll/sms")
	victim.send(page)
	victim.submitCode(victim.page("/.2fa/enroll/sms"), h.lastCode("sms", "+14155550103"))
	thief := h.browser("carol", "stolen-app-session")
	thief.get("/")
	_, token := csrfOf(t, thief.follow("/.2fa/verify").body)
	r := thief.do(http.MethodPost, "/.2fa/enroll/sms", url.Values{"csrf": {token}, "action": {"send"}, "phone": {"+14155550999"}})
	if r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("a stolen app session tried to add a phone: %d %q", r.status, r.location)
	}
	msgs, _ := notify.ReadOutbox(h.dir)
	for _, m := range msgs {
		if m.To == "+14155550999" {
			t.Fatal("a code was texted to the thief's number")
		}
	}
}

func TestCookieReplayedAfterResetOrRevocationIgnored(t *testing.T) {
	h := newHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	if r := b.get("/"); r.status != 200 {
		t.Fatal("verified")
	}
	if _, err := accounts.ResetUser(t.Context(), h.backend, "default", "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.get("/").status == http.StatusFound }, "a session cookie replayed after a reset still passes")
}

func TestCookieSwappedOversizedOrGarbageNeverAnError(t *testing.T) {
	h := newHarness(t)
	a := h.browser("alice", "s1")
	a.enrollTOTP("/")
	u, _ := url.Parse(h.srv.URL)
	var sess string
	for _, c := range a.client.Jar.Cookies(u) {
		if c.Name == accounts.SessionCookie {
			sess = c.Value
		}
	}
	for name, value := range map[string]string{
		"swapped":   sess,
		"truncated": sess[:len(sess)-7],
		"tampered":  "A" + sess[1:],
		"oversized": strings.Repeat("x", 4000),
		"garbage":   "%00%ff|||",
	} {
		b := h.browser("bob", "s2")
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: accounts.SessionCookie, Value: value, Path: "/"}, {Name: accounts.FlowCookie, Value: value, Path: "/"}, {Name: accounts.CSRFCookie, Value: value, Path: "/"}})
		if r := b.get("/x"); r.status != http.StatusFound {
			t.Errorf("%s session cookie: %d", name, r.status)
		}
		if r := b.follow("/.2fa/"); r.status >= 500 {
			t.Errorf("%s cookies on the pages: %d", name, r.status)
		}
	}
}

func TestSMSPumpingThousandRequestsStayWithinCaps(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, _ *policy.Policy) {
		c.SMSCooldown = time.Millisecond
		c.SMSCountries = []int{1, 44}
	})
	// One attacker account hammering resend to a premium number, and
	// enrollments of many accounts to the same number.
	b := h.browser("mallory", "s1")
	b.get("/")
	page := b.page("/.2fa/enroll/sms")
	refusedCountry := 0
	for i := range 1000 {
		number := "+1 900 555 0123"
		if i%10 == 0 {
			number = "+882 16 1234 5678" // international networks: not allowed
		}
		r := b.send(page, "phone", number)
		if r.status == http.StatusUnprocessableEntity {
			refusedCountry++
		}
	}
	if n := h.count("sms"); n > 5 {
		t.Fatalf("1,000 resends by one user sent %d texts (cap 5 per hour)", n)
	}
	if refusedCountry != 100 {
		t.Errorf("numbers outside the allowed countries: %d of 100 refused", refusedCountry)
	}
	for i := range 30 {
		c := h.browser("pump"+itoa(int64(i)), "s")
		c.get("/")
		c.send(c.page("/.2fa/enroll/sms"), "phone", "+1 415 555 0188")
	}
	msgs, _ := notify.ReadOutbox(h.dir)
	perNumber := 0
	for _, m := range msgs {
		if m.To == "+14155550188" {
			perNumber++
		}
	}
	if perNumber > 10 {
		t.Fatalf("one number got %d texts in a day across accounts (cap 10)", perNumber)
	}
}

func TestSecretsAtRestAndInLogsNeverInClear(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	key := b.enrollTOTP("/")
	b.get("/")
	page := b.page("/.2fa/enroll/email")
	time.Sleep(60 * time.Millisecond)
	b.send(page)
	code := h.lastCode("email", "alice@acme.example")
	b.submitCode(b.page("/.2fa/enroll/email"), code)
	u, _ := url.Parse(h.srv.URL)
	var cookies []string
	for _, c := range b.client.Jar.Cookies(u) {
		if strings.Contains(c.Name, "2fa_") {
			cookies = append(cookies, c.Value)
		}
	}
	raw := dumpStore(t, h)
	seed := strings.ReplaceAll(key, " ", "")
	secrets := append([]string{seed, code, strings.ToLower(seed)}, cookies...)
	for _, secret := range secrets {
		if strings.Contains(raw, secret) {
			t.Errorf("the store holds %q in clear", secret)
		}
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("the logs hold %q in clear", secret)
		}
	}
}

// dumpStore copies the database file and reads it as text.
func dumpStore(t *testing.T, h *outboxHarness) string {
	t.Helper()
	bolt, ok := h.backend.Backend.(*store.Bolt)
	if !ok {
		t.Fatal("not a bolt store")
	}
	data, err := os.ReadFile(bolt.Path())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestHostHeaderNeverMakesLinks(t *testing.T) {
	h := newOutboxHarness(t)
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	r := b.do(http.MethodGet, "/reports", nil, "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https")
	if strings.Contains(r.location, "evil") || !strings.HasPrefix(r.location, "/") {
		t.Fatalf("redirect built from request headers: %q", r.location)
	}
	page := b.follow("/.2fa/enroll/totp")
	if strings.Contains(html.UnescapeString(page.body), "evil") || !strings.Contains(html.UnescapeString(page.body), "issuer=Acme") {
		t.Fatalf("otpauth link must use the configured issuer:\n%s", page.body)
	}
}

// Cookie values come from anyone: decoding them must never panic nor
// admit anybody.
func FuzzSessionCookie(f *testing.F) {
	ss, trust := fuzzParts(f)
	for _, v := range []string{"", "abc", "MTc5NTc2MTc5N3x3WkptT3ZF|x|y", strings.Repeat("A", 3000)} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", accounts.SessionCookie+"="+value+"; "+accounts.DeviceCookie+"="+value+"; "+accounts.SeenCookie+"="+value)
		if _, ok := ss.read(r, "alice", "app"); ok {
			t.Fatalf("a fuzzed cookie opened a session: %q", value)
		}
		if trust.current(r, "alice") != "" {
			t.Fatalf("a fuzzed cookie named a device: %q", value)
		}
	})
}

// Form input: codes and users files.
func FuzzFormInput(f *testing.F) {
	for _, v := range []string{"123456", "123 456", "12-34-56", "١٢٣٤٥٦", "id,email\nbob,b@x", `[{"id":"a"}]`} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if code, ok := verify.NormalizeCode(in); ok {
			if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("NormalizeCode(%q) = %q", in, code)
			}
		}
		if entries, err := accounts.ParseDirectory([]byte(in)); err == nil {
			for _, e := range entries {
				if e.ID == "" {
					t.Fatalf("entry without id from %q", in)
				}
			}
		}
	})
}

// fuzzParts are the session and device readers, on a throwaway store.
func fuzzParts(f *testing.F) (*sessions, *deviceTrust) {
	b, err := store.OpenBolt(f.TempDir()+"/f.db", store.BoltOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	ring, _ := keyringForFuzz()
	snap := policy.NewSnapshot(b, "default", policy.Policy{Enabled: true, Methods: []string{"totp"}})
	codec := accounts.NewCodec(ring, "default")
	return &sessions{backend: b, codec: codec, realm: "default", policy: snap, lifetime: time.Hour, freshFor: time.Minute, now: time.Now, onUserChanged: func(string) {}},
		&deviceTrust{backend: b, codec: codec, realm: "default", policy: snap, now: time.Now}
}
