package challenge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
)

func rememberHarness(t *testing.T, days int) *outboxHarness {
	return newOutboxHarness(t, func(_ *siteConfig, p *policy.Policy) { p.RememberDays = days })
}

// rememberedLogin enrolls TOTP with "Remember this device" ticked.
func (b *browser) rememberedLogin() string {
	b.h.t.Helper()
	key, page := b.startEnrollment("/")
	if !strings.Contains(page.body, `name="remember"`) || !strings.Contains(page.body, "Remember this device for 30 days") {
		b.h.t.Fatalf("code page lacks the remember-me checkbox:\n%s", page.body)
	}
	action, csrf := formOf(b.h.t, page.body)
	r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {b.h.code(key, 0)}, "remember": {"1"}})
	if r.status != http.StatusSeeOther {
		b.h.t.Fatalf("remembered enrollment: %d %s", r.status, r.body)
	}
	return key
}

// newAppSession logs the same browser in to the app again.
func (b *browser) newAppSession(value string) {
	u, _ := url.Parse(b.h.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "app", Value: value, Path: "/"}})
}

func TestRememberedDevicePassesAfterNewAppLogin(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	b.rememberedLogin()
	b.newAppSession("s2")
	if r := b.get("/reports"); r.status != 200 {
		t.Fatalf("remembered device should pass a new app session, got %d", r.status)
	}
	// The device cookie issued a session: further requests need no store.
	calls := h.backend.calls.Load()
	b.get("/reports")
	b.get("/x")
	if n := h.backend.calls.Load() - calls; n != 0 {
		t.Fatalf("requests after the device check made %d store calls", n)
	}
}

func TestRememberMeNotOfferedWhenPolicyOff(t *testing.T) {
	h := rememberHarness(t, 0)
	b := h.browser("alice", "s1")
	_, page := b.startEnrollment("/")
	if strings.Contains(page.body, `name="remember"`) {
		t.Fatal("remember-me offered while the policy does not allow it")
	}
}

func TestNewTrustedDeviceNoticeEmailed(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	b.rememberedLogin()
	msgs, _ := notify.ReadOutbox(h.dir)
	found := false
	for _, m := range msgs {
		if m.To == "alice@acme.example" && strings.Contains(strings.ToLower(m.Subject+m.Text), "device") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no new-device notice in %+v", msgs)
	}
}

func TestRememberedDeviceExpires(t *testing.T) {
	h := rememberHarness(t, 1)
	b := h.browser("alice", "s1")
	key, page := b.startEnrollment("/")
	action, csrf := formOf(t, page.body)
	b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {h.code(key, 0)}, "remember": {"1"}})
	h.advance(25 * time.Hour)
	b.newAppSession("s2")
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("expired device trust admitted a new session: %d", r.status)
	}
}

func TestRevokedDeviceByUserIsChallenged(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.rememberedLogin()
	page := b.page("/.2fa/devices")
	if !strings.Contains(page.body, `id="current-device"`) {
		t.Fatalf("devices page should mark this device:\n%s", page.body)
	}
	devs, _ := accounts.ListDevices(t.Context(), h.backend, "default", "alice")
	if len(devs) != 1 {
		t.Fatalf("devices: %+v", devs)
	}
	_, csrf := csrfOf(t, page.body)
	r := b.do(http.MethodPost, "/.2fa/devices", url.Values{"csrf": {csrf}, "action": {"revoke"}, "device": {devs[0].ID}})
	if r.status != 200 || !strings.Contains(r.body, "no-devices") {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	b.newAppSession("s2")
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("revoked device passed: %d", r.status)
	}
}

func TestRevokedDeviceEndsItsLiveSessionToo(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.rememberedLogin()
	b.newAppSession("s2")
	if r := b.get("/"); r.status != 200 {
		t.Fatal("remembered device should pass")
	}
	b.get("/") // the session issued on the device is now cached
	// The revocation reaches the in-memory device cache as a change
	// notification, as it would from another instance.
	if _, err := accounts.RevokeDevices(t.Context(), h.backend, "default", "alice", nil, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.get("/").status == http.StatusFound }, "a session issued on a revoked device still passes")
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(msg)
}

func TestRevokedByAdminOrResetIsChallenged(t *testing.T) {
	for name, revoke := range map[string]func(h *outboxHarness){
		"admin revoke":   func(h *outboxHarness) { accounts.RevokeDevices(t.Context(), h.backend, "default", "alice", nil, "") },
		"sessions ended": func(h *outboxHarness) { accounts.EndSessions(t.Context(), h.backend, "default", "alice", "", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			h := rememberHarness(t, 30)
			b := h.browser("alice", "s1")
			b.rememberedLogin()
			revoke(h)
			b.newAppSession("s2")
			if r := b.get("/"); r.status != http.StatusFound {
				t.Fatalf("device passed after %s: %d", name, r.status)
			}
		})
	}
}

func TestRememberMeTurnedOffOrShortenedEndsTrust(t *testing.T) {
	for name, days := range map[string]int{"off": 0, "shortened": 2} {
		t.Run(name, func(t *testing.T) {
			h := rememberHarness(t, 30)
			b := h.browser("alice", "s1")
			b.rememberedLogin()
			h.advance(3 * 24 * time.Hour)
			if _, err := policy.Replace(t.Context(), h.backend, "default", 0, policy.Policy{Enabled: true, Methods: []string{"totp"}, RememberDays: days}, policy.Policy{}); err != nil {
				t.Fatal(err)
			}
			h.snap.Refresh(t.Context())
			b.newAppSession("s2")
			if r := b.get("/"); r.status != http.StatusFound {
				t.Fatalf("remember-me %s: a 3-day-old device still passes (%d)", name, r.status)
			}
		})
	}
}

func TestMethodChangeEndsDeviceTrust(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.email = "alice@acme.example"
	b.rememberedLogin()
	enrollByEmail(t, h, b) // adds a method as a verified user
	c := h.browser("alice", "s3")
	c.client.Jar = b.client.Jar
	c.newAppSession("s3")
	// The browser that added the method keeps a fresh session, but its
	// old device cookie (old epoch) no longer skips the code.
	if r := c.get("/"); r.status != http.StatusFound {
		t.Fatalf("device trusted before a method change still passes: %d", r.status)
	}
}

func TestDeviceCookieOfAnotherUserIgnored(t *testing.T) {
	h := rememberHarness(t, 30)
	a := h.browser("alice", "s1")
	a.rememberedLogin()
	a.user = "bob"
	a.newAppSession("bob-session")
	if r := a.get("/"); r.status != http.StatusFound {
		t.Fatalf("alice's device cookie admitted bob: %d", r.status)
	}
}

func TestTamperedOrTruncatedDeviceCookieIgnoredNeverAnError(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	b.rememberedLogin()
	u, _ := url.Parse(h.srv.URL)
	var dev string
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == accounts.DeviceCookie {
			dev = c.Value
		}
	}
	if dev == "" {
		t.Fatal("no device cookie")
	}
	for _, bad := range []string{dev[:len(dev)/2], "x" + dev[1:], strings.Repeat("A", 5000), "%%%", ""} {
		c := h.browser("alice", "s9")
		c.client.Jar.SetCookies(u, []*http.Cookie{{Name: accounts.DeviceCookie, Value: bad, Path: "/"}})
		if r := c.get("/"); r.status != http.StatusFound {
			t.Fatalf("bad device cookie %.20q: status %d", bad, r.status)
		}
	}
}

func TestKeyRotationKeepsDeviceCookiesUntilTheirKeyIsDropped(t *testing.T) {
	b := tempStore(t)
	oldKey, newKey := keyring.Generate(), keyring.Generate()
	site := func(keys string) *harness {
		ring, _ := keyring.Parse(keys)
		return newHarnessOn(t, b, ring, func(_ *siteConfig, p *policy.Policy) { p.RememberDays = 30 })
	}
	before := site(oldKey)
	alice := before.browser("alice", "s1")
	alice.rememberedLogin()
	// The same browser on a site of the same store with other keys.
	on := func(h *harness, app string) reply {
		c := h.browser("alice", app)
		u1, _ := url.Parse(before.srv.URL)
		u2, _ := url.Parse(h.srv.URL)
		for _, ck := range alice.client.Jar.Cookies(u1) {
			if ck.Name == accounts.DeviceCookie {
				c.client.Jar.SetCookies(u2, []*http.Cookie{ck})
			}
		}
		return c.get("/")
	}
	if r := on(site(newKey+" "+oldKey), "s2"); r.status != 200 {
		t.Fatalf("rotation (old key second) must keep the device: %d", r.status)
	}
	if r := on(site(newKey), "s3"); r.status != http.StatusFound {
		t.Fatalf("dropping the key must end the device's trust: %d", r.status)
	}
}

func TestSignOutOtherDevices(t *testing.T) {
	h := rememberHarness(t, 30)
	phone := h.browser("alice", "p1")
	phone.rememberedLogin()
	h.advance(31 * time.Second)
	laptop := h.browser("alice", "l1")
	laptop.get("/")
	// The laptop verifies with the same authenticator.
	seedKey := enrolledKeyForTest(t, h, "alice")
	page := laptop.follow("/.2fa/")
	action, csrf := formOf(t, page.body)
	if r := laptop.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {h.code(seedKey, 0)}, "remember": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("laptop verify: %d %s", r.status, r.body)
	}
	page = laptop.page("/.2fa/devices")
	if n := strings.Count(page.body, `class="choice device"`); n != 2 {
		t.Fatalf("want 2 trusted devices, got %d:\n%s", n, page.body)
	}
	_, tok := csrfOf(t, page.body)
	r := laptop.do(http.MethodPost, "/.2fa/devices", url.Values{"csrf": {tok}, "action": {"others"}})
	if r.status != 200 || strings.Count(r.body, `class="choice device"`) != 1 {
		t.Fatalf("sign out others: %d\n%s", r.status, r.body)
	}
	if r := laptop.get("/x"); r.status != 200 {
		t.Fatalf("this browser must stay signed in: %d", r.status)
	}
	if r := phone.get("/x"); r.status != http.StatusFound {
		t.Fatalf("the other browser must be signed out: %d", r.status)
	}
	phone.newAppSession("p2")
	if r := phone.get("/x"); r.status != http.StatusFound {
		t.Fatalf("the other device must lose its trust: %d", r.status)
	}
	laptop.newAppSession("l2")
	if r := laptop.get("/x"); r.status != 200 {
		t.Fatalf("this device keeps its trust: %d", r.status)
	}
}

// enrolledKeyForTest opens the stored TOTP seed (as only the server can).
func enrolledKeyForTest(t *testing.T, h *outboxHarness, user string) string {
	t.Helper()
	u, err := accounts.GetUser(t.Context(), h.backend, "default", user)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := u.Enrollment(policy.MethodTOTP)
	seed, err := h.ring.Open(e.Secret, []byte("default\x00"+user))
	if err != nil {
		t.Fatal(err)
	}
	return b32.EncodeToString(seed)
}

func TestSummarizeUserAgent(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0":                                                        "Firefox on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36":                                "Chrome on Android",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0":             "Edge on macOS",
		"<script>alert(1)</script>": "Unknown browser",
	} {
		if got := SummarizeUserAgent(ua); got != want {
			t.Errorf("%q: got %q, want %q", ua, got, want)
		}
	}
}

// Removing the device you are on must not leave a session that the gate
// refuses but the pages accept (a redirect loop).
func TestRemovingThisDeviceDoesNotLoop(t *testing.T) {
	h := rememberHarness(t, 30)
	b := h.browser("alice", "s1")
	key := b.rememberedLogin()
	b.newAppSession("s2")
	if r := b.get("/x"); r.status != 200 {
		t.Fatalf("remembered device: %d", r.status)
	}
	// Removing devices needs a fresh code: asked for, then back.
	_, csrf := csrfOf(t, b.page("/.2fa/devices").body)
	b.do(http.MethodPost, "/.2fa/devices", url.Values{"csrf": {csrf}, "action": {"revoke"}, "device": {"x"}})
	b.stepUpTOTP(key)
	page := b.page("/.2fa/devices")
	devs, _ := accounts.ListDevices(t.Context(), h.backend, "default", "alice")
	_, csrf = csrfOf(t, page.body)
	if r := b.do(http.MethodPost, "/.2fa/devices", url.Values{"csrf": {csrf}, "action": {"revoke"}, "device": {devs[0].ID}}); r.status != 200 {
		t.Fatalf("remove this device: %d", r.status)
	}
	if r := b.get("/x"); r.status != 200 {
		t.Fatalf("after removing this device, this session continues: %d", r.status)
	}
	b.newAppSession("s3")
	r := b.get("/x")
	if r.status != http.StatusFound {
		t.Fatalf("next sign-in must be challenged: %d", r.status)
	}
	if final := b.follow("/.2fa/"); final.status != 200 || !strings.Contains(final.body, "Enter your code") {
		t.Fatalf("the challenge must be reachable (no loop): %d", final.status)
	}
}
