package orgadmin

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
)

// A policy the server's configuration turned on, as an admin first edits
// it: 2FA was on all along, so nobody is told to set it up again and
// nobody's time to set it up starts again. Both ways of changing it (the
// operator's and a confirmed proposal) are checked.
func TestFirstEditOfAConfiguredPolicyKeepsItsRolloutAndSendsNoSetupEmails(t *testing.T) {
	configured := policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP},
		Rollout: policy.Rollout{Mode: policy.SetupWithinDays, Days: 7, Skips: 3}} // no EnabledAt, as from a Caddyfile
	for name, edit := range map[string]func(rg *rig, next policy.Policy) (policy.Policy, error){
		"operator": func(rg *rig, next policy.Policy) (policy.Policy, error) {
			return rg.admin.ReplacePolicy(t.Context(), Operator, -1, next)
		},
		"proposal": func(rg *rig, next policy.Policy) (policy.Policy, error) {
			prop, _, err := rg.admin.ProposeChange(t.Context(), alice, next)
			if err != nil {
				return policy.Policy{}, err
			}
			return rg.admin.ConfirmChange(t.Context(), alice, prop.ID, rg.lastCode(alice.Email))
		},
	} {
		t.Run(name, func(t *testing.T) {
			rg := newRig(t, configured)
			ctx := t.Context()
			mux := rg.pagesOf(t)
			var cookies []*http.Cookie
			status := func() string {
				return htmltest.Text(visit(t, mux, "en", http.MethodGet, "/.2fa/admin", nil, &cookies).Body.String(), "tfa-status")
			}
			if got := status(); !strings.Contains(got, "as the server is configured") {
				t.Errorf("before any change, the status: %q", got)
			}
			rg.addUser("alice", func(u *accounts.User) { u.Groups = []string{DefaultAdminPermission} })
			rg.addUser("dana", func(u *accounts.User) { u.Groups = []string{DefaultAdminPermission} })
			rg.addUser("bob", nil)
			before, err := rg.admin.Rollout().Begin(ctx, configured, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rg.admin.Rollout().Skip(ctx, configured, "bob"); err != nil {
				t.Fatal(err)
			}
			rg.advance(2 * 24 * time.Hour)

			next := configured
			next.RememberDays = 14
			stored, err := edit(rg, next)
			if err != nil {
				t.Fatal(err)
			}
			if !stored.EnabledAt.Equal(configured.EnabledAt) {
				t.Errorf("the edit turned 2FA on anew at %v: it was on as configured", stored.EnabledAt)
			}
			// The announcement to the other admin follows the setup
			// emails, if any, on the same goroutine.
			eventually(t, "no announcement to dana", func() bool { return rg.sentTo("dana@acme.example") })
			if n := rg.mailer.queued(rg.admin.tell.setupJob(stored)); n != 0 {
				t.Errorf("%d setup emails queued for an edit of a policy that was on all along", n)
			}
			if got, by := status(), stored.ChangedBy; !strings.Contains(got, "since the server was set up") || !strings.Contains(got, "last changed by "+by) {
				t.Errorf("after %s's change, the status: %q", by, got)
			}
			after, err := rg.admin.Rollout().Begin(ctx, stored, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if !after.Deadline.Equal(before.Deadline) || after.SkipsLeft != before.SkipsLeft-1 {
				t.Errorf("bob's rollout started again: deadline %v → %v, skips left %d → %d",
					before.Deadline, after.Deadline, before.SkipsLeft-1, after.SkipsLeft)
			}
		})
	}
}

// sentTo reports whether the outbox holds an email to addr.
func (rg *rig) sentTo(addr string) bool {
	msgs, err := notify.ReadOutbox(rg.outbox)
	return err == nil && slices.ContainsFunc(msgs, func(m notify.OutboxMessage) bool { return m.To == addr })
}
