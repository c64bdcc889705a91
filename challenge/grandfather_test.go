package challenge

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/policy"
)

// carried makes bob an app session open before 2FA was turned on, which
// then passes as grandfathered; it returns bob's note.
func carried(t *testing.T, h *outboxHarness) (*browser, *http.Cookie) {
	t.Helper()
	bob := knownUser(h, "bob")
	h.enable(h.admin("a1"), []string{"totp"}, 0)
	if r := bob.get("/app"); r.status != http.StatusOK {
		t.Fatalf("bob's open app session: %d", r.status)
	}
	u, _ := url.Parse(h.srv.URL)
	for _, c := range bob.client.Jar.Cookies(u) {
		if c.Name == accounts.SeenCookie {
			return bob, c
		}
	}
	t.Fatal("bob has no note")
	return nil, nil
}

// replay sends the note alone, as an attacker who kept it would, with the
// app session it is bound to.
func replay(h *outboxHarness, note *http.Cookie) reply {
	b := h.browser("bob", "bob-s1")
	u, _ := url.Parse(h.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: accounts.SeenCookie, Value: note.Value, Path: "/"}})
	return b.get("/app")
}

func TestGrandfatherNoteReplayedAfterResetIsChallenged(t *testing.T) {
	h, _ := adminHarness(t)
	bob, note := carried(t, h)
	if _, err := accounts.ResetUser(t.Context(), h.backend, "default", "bob"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the reset's change notification
	if r := bob.get("/app"); r.status != http.StatusFound {
		t.Fatalf("bob's open app session after a reset: %d, want the challenge", r.status)
	}
	if r := replay(h, note); r.status != http.StatusFound {
		t.Fatalf("the note replayed after a reset: %d, want the challenge", r.status)
	}
}

func TestGrandfatherNoteReplayedAfterSessionLifetimeIsChallenged(t *testing.T) {
	h, _ := adminHarness(t)
	bob, note := carried(t, h)
	h.advance(h.cfg.SessionLifetime - time.Minute)
	if r := replay(h, note); r.status != http.StatusOK {
		t.Fatalf("the note within the session lifetime: %d", r.status)
	}
	h.advance(time.Minute)
	if r := bob.get("/app"); r.status != http.StatusFound {
		t.Fatalf("bob's app session past the session lifetime: %d, want the challenge", r.status)
	}
	if r := replay(h, note); r.status != http.StatusFound {
		t.Fatalf("the note replayed past the session lifetime: %d, want the challenge", r.status)
	}
}

// Two sites of different realms on one host: realm A's session, device and
// note cookies open nothing in realm B.
func TestRealmASessionRefusedOnRealmB(t *testing.T) {
	b := tempStore(t)
	ring, _ := keyring.Parse(keyring.Generate())
	realm := func(name string) func(*siteConfig, *policy.Policy) {
		return func(c *siteConfig, _ *policy.Policy) { c.Realm = name }
	}
	a, bee := newHarnessOn(t, b, ring, realm("a")), newHarnessOn(t, b, ring, realm("b"))
	// Identities from headers, without an app session to bind to.
	alice := a.browser("alice", "")
	alice.enrollTOTP("/app")
	if r := alice.get("/app"); r.status != http.StatusOK {
		t.Fatalf("realm a: %d", r.status)
	}
	// Alice is enrolled in realm b too, with the same epoch (0): only the
	// realm tells the two sessions apart.
	other := bee.browser("alice", "")
	other.enrollTOTP("/app")
	fresh := bee.browser("alice", "")
	ua, _ := url.Parse(a.srv.URL)
	ub, _ := url.Parse(bee.srv.URL)
	fresh.client.Jar.SetCookies(ub, alice.client.Jar.Cookies(ua))
	if r := fresh.get("/app"); r.status != http.StatusFound {
		t.Fatalf("realm a's session in realm b: %d, want the challenge", r.status)
	}
}

// Rotation: a new key first, the old one kept: sessions and their binding
// to the app session still open.
func TestKeyRotationKeepsVerifiedSessions(t *testing.T) {
	b := tempStore(t)
	old := keyring.Generate()
	ring, _ := keyring.Parse(old)
	before := newHarnessOn(t, b, ring)
	alice := before.browser("alice", "s1")
	alice.enrollTOTP("/app")
	rotated, _ := keyring.Parse(keyring.Generate() + " " + old)
	after := newHarnessOn(t, b, rotated)
	again := after.browser("alice", "s1")
	u1, _ := url.Parse(before.srv.URL)
	u2, _ := url.Parse(after.srv.URL)
	again.client.Jar.SetCookies(u2, alice.client.Jar.Cookies(u1))
	if r := again.get("/app"); r.status != http.StatusOK {
		t.Fatalf("after rotation: %d, want the verified session kept", r.status)
	}
}
