package challenge

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/internal/softkey"
	"github.com/caddy2fa/caddy2fa/orgadmin"
	"github.com/caddy2fa/caddy2fa/policy"
)

// passkeyHarness offers passkeys beside the authenticator app (or only
// them, with only).
func passkeyHarness(t *testing.T, methods ...string) *harness {
	if len(methods) == 0 {
		methods = []string{policy.MethodWebAuthn, policy.MethodTOTP}
	}
	return newHarness(t, func(c *siteConfig, p *policy.Policy) {
		c.Passkeys = true
		p.Methods = methods
	})
}

// passkeyForm reads a passkey page's form: where it posts, its token and
// the ceremony's options.
func passkeyForm(t *testing.T, page reply) (action, csrf string, options []byte) {
	t.Helper()
	action = htmltest.AttrByID(page.body, "passkey-form", "action")
	options = []byte(htmltest.AttrByID(page.body, "passkey-form", "data-options"))
	_, csrf = csrfOf(t, page.body)
	if action == "" || len(options) == 0 {
		t.Fatalf("no passkey form in:\n%s", page.body)
	}
	return action, csrf, options
}

// registerPasskey registers key from the enrollment page, named name.
func (b *browser) registerPasskey(key *softkey.Key, name string) reply {
	b.h.t.Helper()
	action, csrf, options := passkeyForm(b.h.t, b.follow(b.h.cfg.PathPrefix+"/enroll/webauthn"))
	answer, err := key.Register(options)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "credential": {string(answer)}, "name": {name}})
}

// usePasskey signs in with key from the verify page.
func (b *browser) usePasskey(key *softkey.Key) reply {
	b.h.t.Helper()
	action, csrf, options := passkeyForm(b.h.t, b.follow(b.h.cfg.PathPrefix+"/verify/webauthn"))
	answer, err := key.Assert(options)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "credential": {string(answer)}})
}

// firstPasskey is a first login that registers a passkey.
func (b *browser) firstPasskey(path string) *softkey.Key {
	b.h.t.Helper()
	if r := b.get(path); r.status != http.StatusFound {
		b.h.t.Fatalf("unverified: %d", r.status)
	}
	key := softkey.New(PasskeySite)
	r := b.savedRecoveryCodes(b.registerPasskey(key, "YubiKey"))
	if r.status != http.StatusSeeOther || r.location != path {
		b.h.t.Fatalf("passkey enrollment: %d %q\n%s", r.status, r.location, r.body)
	}
	return key
}

func TestPasskeyEnrollsAndSignsIn(t *testing.T) {
	h := passkeyHarness(t)
	b := h.browser("alice", "s1")
	key := b.firstPasskey("/reports")
	if got := b.get("/reports"); got.status != http.StatusOK {
		t.Fatalf("after registering a passkey: %d", got.status)
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if len(u.Passkeys) != 1 || u.Passkeys[0].Name != "YubiKey" || len(u.PasskeyHandle) != 64 || u.Preferred != policy.MethodWebAuthn {
		t.Fatalf("stored: %+v", u)
	}
	if strings.Contains(string(u.PasskeyHandle), "alice") || string(key.Handle) != string(u.PasskeyHandle) {
		t.Fatal("the user handle the key keeps is not the random one")
	}
	b.newAppSession("s2")
	if r := b.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("a new app session: %d", r.status)
	}
	if r := b.get("/.2fa/verify"); r.location != "/.2fa/verify/webauthn" {
		t.Fatalf("verification goes to %q", r.location)
	}
	if r := b.usePasskey(key); r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("passkey sign-in: %d %q\n%s", r.status, r.location, r.body)
	}
	u, _ = accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if u.Passkeys[0].Credential.Authenticator.SignCount != 1 || u.Passkeys[0].LastUsed.IsZero() {
		t.Fatalf("the key after sign-in: %+v", u.Passkeys[0])
	}
}

func TestReplayedPasskeyAnswerIsRefused(t *testing.T) {
	h := passkeyHarness(t)
	b := h.browser("alice", "s1")
	key := b.firstPasskey("/")
	b.newAppSession("s2")
	b.get("/")
	action, csrf, options := passkeyForm(t, b.follow("/.2fa/verify/webauthn"))
	answer, _ := key.Assert(options)
	form := url.Values{"csrf": {csrf}, "credential": {string(answer)}}
	if r := b.do(http.MethodPost, action, form); r.status != http.StatusSeeOther {
		t.Fatalf("first answer: %d", r.status)
	}
	b.newAppSession("s3")
	b.get("/")
	b.follow("/.2fa/verify/webauthn") // a new ceremony is open, with another challenge
	if r := b.do(http.MethodPost, action, form); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("the same answer again: %d, want refused", r.status)
	}
}

func TestPasskeyAnswerToAnotherSessionsCeremonyIsRefused(t *testing.T) {
	h := passkeyHarness(t)
	b := h.browser("alice", "s1")
	key := b.firstPasskey("/")
	// The victim's browser opens a ceremony; the attacker, with the
	// password only, has another app session and cannot use the answer.
	victim := h.browser("alice", "v1")
	victim.client.Jar = b.client.Jar
	victim.newAppSession("v1")
	victim.get("/")
	_, _, options := passkeyForm(t, victim.follow("/.2fa/verify/webauthn"))
	answer, _ := key.Assert(options)
	attacker := h.browser("alice", "a1")
	attacker.get("/")
	action, csrf, _ := passkeyForm(t, attacker.follow("/.2fa/verify/webauthn"))
	if r := attacker.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "credential": {string(answer)}}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("an answer to another session's ceremony: %d, want refused", r.status)
	}
}

func TestClonedPasskeyIsRefusedAndAudited(t *testing.T) {
	h := passkeyHarness(t)
	b := h.browser("alice", "s1")
	key := b.firstPasskey("/")
	clone := key.Clone()
	b.newAppSession("s2")
	b.get("/")
	if r := b.usePasskey(key); r.status != http.StatusSeeOther {
		t.Fatalf("the real key: %d", r.status)
	}
	b.newAppSession("s3")
	b.get("/")
	if r := b.usePasskey(clone); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("the clone: %d, want refused", r.status)
	}
	if n := auditCount(t, h, "passkey_clone_suspected"); n != 1 {
		t.Fatalf("%d clone events audited, want 1", n)
	}
}

func TestSecondPasskeyIsNamedListedAndRemovableButNeverTheLast(t *testing.T) {
	h := passkeyHarness(t, policy.MethodWebAuthn)
	b := h.browser("alice", "s1")
	b.firstPasskey("/")
	second := softkey.New(PasskeySite)
	if r := b.registerPasskey(second, "  Work   laptop "); r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("a second key: %d %q\n%s", r.status, r.location, r.body)
	}
	methods := b.follow("/.2fa/methods")
	list := htmltest.Text(methods.body, "passkeys")
	if !strings.Contains(list, "YubiKey") || !strings.Contains(list, "Work laptop") || !strings.Contains(list, "last used never") {
		t.Fatalf("the methods page lists: %q", list)
	}
	if row := htmltest.Text(methods.body, "method-webauthn"); !strings.Contains(row, "Set up "+h.clock().Format("2 January 2006")) || !strings.Contains(row, "last used never") {
		t.Fatalf("the passkey method's row says %q", row)
	}
	u, _ := accounts.GetUser(t.Context(), h.backend, "default", "alice")
	remove := func(i int) reply {
		_, csrf := csrfOf(t, b.follow("/.2fa/methods").body)
		return b.do(http.MethodPost, "/.2fa/passkeys/remove", url.Values{"csrf": {csrf}, "key": {u.Passkeys[i].ID()}})
	}
	h.advance(2 * time.Hour)
	if r := remove(0); r.status != http.StatusSeeOther || r.location != "/.2fa/verify" {
		t.Fatalf("removing a key from a 2-hour-old pass: %d %q, want a fresh code first", r.status, r.location)
	}
	if r := b.usePasskey(second); r.status != http.StatusSeeOther {
		t.Fatalf("step-up with the second key: %d", r.status)
	}
	if r := remove(0); r.status != http.StatusSeeOther {
		t.Fatalf("removing the first key: %d", r.status)
	}
	if r := remove(1); r.status != http.StatusConflict {
		t.Fatalf("removing the last key while 2FA is on: %d, want refused", r.status)
	}
	u, _ = accounts.GetUser(t.Context(), h.backend, "default", "alice")
	if len(u.Passkeys) != 1 || u.Passkeys[0].Name != "Work laptop" {
		t.Fatalf("keys left: %+v", u.Passkeys)
	}
	if auditCount(t, h, "passkey_removed") != 1 {
		t.Fatal("the removal is not audited")
	}
}

func TestPhishingResistantPolicyEnrollsAKeyAtNextLogin(t *testing.T) {
	h := passkeyHarness(t)
	b := h.browser("alice", "s1")
	b.enrollTOTP("/")
	only := *h.snap.Current()
	only.Methods = []string{policy.MethodWebAuthn}
	if !only.PhishingResistant() {
		t.Fatal("webauthn alone is not phishing-resistant")
	}
	if _, err := h.admin.ReplacePolicy(t.Context(), orgadmin.Operator, -1, only); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.snap.Current().PhishingResistant() }, "the policy to follow")
	b.newAppSession("s2")
	b.get("/")
	if r := b.get("/.2fa/"); r.location != "/.2fa/enroll" {
		t.Fatalf("an authenticator-app user under a passkeys-only policy goes to %q, want enrollment", r.location)
	}
	if r := b.get("/.2fa/enroll"); r.location != "/.2fa/enroll/webauthn" {
		t.Fatalf("enrollment offers %q, want the passkey", r.location)
	}
	if r := b.get("/.2fa/verify/totp"); r.status != http.StatusSeeOther {
		t.Fatalf("the authenticator app under a passkeys-only policy: %d", r.status)
	}
}

func TestPasskeyPageWithoutJavaScriptPointsToOtherMethods(t *testing.T) {
	h := passkeyHarness(t)
	b := h.browser("alice", "s1")
	b.get("/")
	page := b.follow("/.2fa/enroll/webauthn")
	if !strings.Contains(page.body, `<noscript><p class="error" id="passkey-noscript">`) {
		t.Fatal("no word for browsers without JavaScript")
	}
	if htmltest.AttrByID(page.body, "other-totp", "href") != "/.2fa/enroll/totp" {
		t.Fatalf("the passkey page offers no other method:\n%s", page.body)
	}
	action, csrf, _ := passkeyForm(t, page)
	r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "credential": {""}, "name": {"x"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "choose another method") {
		t.Fatalf("a form sent without a passkey: %d\n%s", r.status, r.body)
	}
}

func TestPasskeysOnlyPolicyAsksTheAdminToConfirmTheWarning(t *testing.T) {
	h, _ := adminHarness(t, func(c *siteConfig, _ *policy.Policy) { c.Passkeys = true })
	a := h.admin("a1")
	a.get("/")
	page := a.page("/.2fa/admin/edit")
	if hasBoolAttr(page.body, "method-webauthn", "disabled") {
		t.Fatal("passkeys are not offered on a site that takes them")
	}
	if !hasBoolAttr(page.body, "recovery", "checked") {
		t.Fatal("recovery codes are not ticked by default")
	}
	_, csrf := csrfOf(t, page.body)
	form := url.Values{"csrf": {csrf}, "method": {policy.MethodWebAuthn}, "recovery": {"1"}}
	r := a.do(http.MethodPost, "/.2fa/admin/edit", form)
	if r.status != http.StatusUnprocessableEntity || htmltest.Text(r.body, "phishing-resistant-warning") == "" {
		t.Fatalf("passkeys only, unconfirmed: %d\n%s", r.status, r.body)
	}
	form.Set("phishing_resistant_ok", "1")
	if r := a.do(http.MethodPost, "/.2fa/admin/edit", form); r.status != http.StatusSeeOther || !strings.Contains(r.location, "/admin/confirm?change=") {
		t.Fatalf("passkeys only, confirmed: %d %q", r.status, r.location)
	}
}

func TestPasskeysNotOfferedOnASiteWithoutSiteURL(t *testing.T) {
	h, _ := adminHarness(t)
	a := h.admin("a1")
	a.get("/")
	page := a.page("/.2fa/admin/edit")
	if !hasBoolAttr(page.body, "method-webauthn", "disabled") || !strings.Contains(html.UnescapeString(page.body), "Needs the site's address") {
		t.Fatalf("passkeys offered on a site that cannot take them:\n%s", page.body)
	}
	if r := h.browser("bob", "b1").get("/.2fa/enroll/webauthn"); r.status != http.StatusSeeOther {
		t.Fatalf("the passkey enrollment page on such a site: %d", r.status)
	}
}

// hasBoolAttr reports whether the element with the id has a boolean
// attribute (checked, disabled), which has no value to read.
func hasBoolAttr(body, id, attr string) bool {
	return regexp.MustCompile(`<[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*\s` + attr + `[\s>]`).MatchString(body)
}
