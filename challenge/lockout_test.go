package challenge

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
)

// A burst of 1,000 parallel wrong authenticator codes from 1,000 sessions:
// all are counted, at most the user's limit are compared, and the right
// code sent while the burst is on is refused like a wrong one.
func TestParallelWrongCodesCannotRaceTheLockout(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) { c.IPFailLimit = 500 })
	key := h.browser("alice", "s0").enrollTOTP("/")
	h.advance(30 * time.Second) // the enrollment's step is spent
	before, _, _ := h.backend.Incr(t.Context(), h.userFailKey("alice"), 0, time.Hour)
	type try struct {
		b    *browser
		page reply
	}
	tries := make([]try, 1000)
	for i := range tries {
		b := h.browser("alice", fmt.Sprintf("p%d", i))
		tries[i] = try{b, b.follow("/")}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for _, tr := range tries[1:] {
		wg.Go(func() {
			r := tr.b.submitCode(tr.page, "000000")
			if r.status == http.StatusUnprocessableEntity {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
		})
	}
	// The right code goes in once the limit's worth of attempts are taken.
	for {
		n, _, _ := h.backend.Incr(t.Context(), h.userFailKey("alice"), 0, time.Hour)
		if n-before >= int64(h.cfg.UserFailLimit) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	right := tries[0].b.submitCode(tries[0].page, h.code(key, 0))
	wg.Wait()
	if right.status != http.StatusTooManyRequests {
		t.Fatalf("the right code inside the burst: %d, want the lockout", right.status)
	}
	n, _, _ := h.backend.Incr(t.Context(), h.userFailKey("alice"), 0, time.Hour)
	if n-before != 1000 || wrong > h.cfg.UserFailLimit {
		t.Fatalf("%d attempts counted (want 1,000), %d codes compared and found wrong (limit %d)", n-before, wrong, h.cfg.UserFailLimit)
	}
}

// failCodes sends n wrong codes for alice, a new sign-in attempt every
// few, and returns the last answer.
func failCodes(h *outboxHarness, n int) reply {
	var r reply
	for i := range n {
		b := h.browser("alice", fmt.Sprintf("w%d-%d", h.clock().Unix(), i))
		b.email = "alice@acme.example"
		r = b.submitCode(b.follow("/"), "000000")
	}
	return r
}

// The ladder: every 10 wrong codes in a row hold code entry longer, each
// hold is emailed to the user and audited, and at 50 code entry stays
// locked, the right code included, until the user unlocks it with a code
// sent to their email.
func TestLockLadderHoldsLongerThenLocksUntilUnlockedByEmail(t *testing.T) {
	h := newOutboxHarness(t, func(c *siteConfig, p *policy.Policy) {
		p.Methods = []string{"totp"}
		// The windows count in the store's time, which the test does not
		// move: out of the way, the ladder alone holds code entry.
		c.UserFailLimit, c.IPFailLimit = 1000, 1000
	})
	alice := h.browser("alice", "s0")
	alice.email = "alice@acme.example"
	key := alice.enrollTOTP("/")
	for i, wait := range []string{"1 minute", "5 minutes", "15 minutes", "1 hour"} {
		r := failCodes(h, 10)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Try again at") {
			t.Fatalf("after %d wrong codes: %d %s", 10*(i+1), r.status, r.body)
		}
		if !h.sawEmail("alice@acme.example", "Code entry paused", wait) {
			t.Fatalf("no email about the %s hold", wait)
		}
		h.advance(time.Hour + time.Second) // past the hold
	}
	if r := failCodes(h, 10); r.status != http.StatusSeeOther || !strings.HasSuffix(r.location, "/unlock") {
		t.Fatalf("the 50th wrong code: %d %q, want the unlock page", r.status, r.location)
	}
	h.advance(48 * time.Hour)
	b := h.browser("alice", "late")
	b.email = "alice@acme.example"
	if r := b.submitCode(b.follow("/.2fa/verify/totp"), h.code(key, 0)); r.status != http.StatusSeeOther || !strings.HasSuffix(r.location, "/unlock") {
		t.Fatalf("the right code two days later: %d %q, want the unlock page, uncompared", r.status, r.location)
	}
	if !h.sawEmail("alice@acme.example", "Code entry locked", "locked until you unlock it") {
		t.Fatal("no email about the lock")
	}
	events, _ := accounts.ListAudit(t.Context(), h.backend, "default", "", 100)
	holds := 0
	for _, e := range events {
		if e.Action == "locked_out" {
			holds++
		}
	}
	if holds != 5 {
		t.Fatalf("%d holds audited, want 5", holds)
	}

	page := b.get("/.2fa/unlock")
	_, csrf := csrfOf(t, page.body)
	if r := b.do(http.MethodPost, "/.2fa/unlock", url.Values{"csrf": {csrf}, "action": {"send"}}); r.status != http.StatusSeeOther {
		t.Fatalf("sending the unlock code: %d %s", r.status, r.body)
	}
	page = b.get("/.2fa/unlock")
	_, csrf = formOf(t, page.body)
	r := b.do(http.MethodPost, "/.2fa/unlock", url.Values{"csrf": {csrf}, "code": {h.lastCode("email", "alice@acme.example")}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "unlocked") {
		t.Fatalf("unlocking: %d %s", r.status, r.body)
	}
	h.advance(30 * time.Second)
	if r := b.submitCode(b.follow("/.2fa/verify/totp"), h.code(key, 0)); r.status != http.StatusSeeOther || strings.HasSuffix(r.location, "/unlock") {
		t.Fatalf("the right code after unlocking: %d %q", r.status, r.location)
	}
}

func TestAdminUnlocksALockedUser(t *testing.T) {
	h, a := enabledAdminHarness(t)
	if err := h.backend.Put(t.Context(), accounts.Keys{Realm: "default"}.Ladder("bob"), []byte(`{"s":50,"h":true}`), 0); err != nil {
		t.Fatal(err)
	}
	h.browser("bob", "b1").get("/app")
	home := a.page("/.2fa/admin")
	if !strings.Contains(home.body, "code entry locked") || !strings.Contains(home.body, "/admin/users/unlock") {
		t.Fatalf("the users table does not show bob as locked:\n%s", home.body)
	}
	_, csrf := csrfOf(t, home.body)
	r := a.do(http.MethodPost, "/.2fa/admin/users/unlock", url.Values{"csrf": {csrf}, "user": {"bob"}})
	if r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), "unlocked for bob") {
		t.Fatalf("unlock: %d %s", r.status, r.body)
	}
	if st, _ := h.checker.Ladder("bob").State(t.Context(), h.backend); st.Hard || st.Streak != 0 {
		t.Fatalf("bob still held: %+v", st)
	}
}

// sawEmail reports whether an email to to has subject and text containing
// the given strings.
func (h *outboxHarness) sawEmail(to, subject, text string) bool {
	msgs, _ := notify.ReadOutbox(h.dir)
	for _, m := range msgs {
		if m.To == to && strings.Contains(m.Subject, subject) && strings.Contains(m.Text, text) {
			return true
		}
	}
	return false
}
