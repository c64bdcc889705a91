package orgadmin

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
)

func withinDays(days, skips int) policy.Policy {
	return policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}, EnabledAt: time.Unix(1_799_000_000, 0).UTC(),
		Rollout: policy.Rollout{Mode: policy.SetupWithinDays, Days: days, Skips: skips}}
}

func (rg *rig) addUser(id string, edit func(*accounts.User)) {
	rg.t.Helper()
	_, err := accounts.UpdateUser(rg.t.Context(), rg.b, "default", id, func(u *accounts.User) error {
		u.Email = id + "@acme.example"
		if edit != nil {
			edit(u)
		}
		return nil
	})
	if err != nil {
		rg.t.Fatal(err)
	}
}

func (rg *rig) advance(d time.Duration) {
	rg.mu.Lock()
	rg.now = rg.now.Add(d)
	rg.mu.Unlock()
}

func TestProgressCountsOverdueUsers(t *testing.T) {
	p := withinDays(7, 2)
	rg := newRig(t, p)
	ctx := t.Context()
	rg.addUser("set", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	rg.addUser("late", nil)
	rg.addUser("soon", nil)
	rg.addUser("new", nil)
	rg.admin.Rollout().Begin(ctx, p, "late")
	rg.advance(6 * 24 * time.Hour)
	rg.admin.Rollout().Begin(ctx, p, "soon")
	rg.advance(2 * 24 * time.Hour)
	counts, err := rg.admin.RolloutProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := rollout.Counts{rollout.Enrolled: 1, rollout.Overdue: 1, rollout.Pending: 1, rollout.NotStarted: 1}
	for _, s := range rollout.States {
		if counts[s] != want[s] {
			t.Errorf("%s: %d, want %d", s, counts[s], want[s])
		}
	}
	rows, _, err := rg.admin.RolloutUsers(ctx, rollout.Overdue, "", 50)
	if err != nil || len(rows) != 1 || rows[0].ID != "late" || rows[0].Deadline.IsZero() {
		t.Fatalf("overdue users: %+v, %v", rows, err)
	}
}

func TestAdminExtendsOneUsersDeadline(t *testing.T) {
	p := withinDays(7, 2)
	rg := newRig(t, p)
	ctx := t.Context()
	rg.addUser("bob", nil)
	g, _ := rg.admin.Rollout().Begin(ctx, p, "bob")
	rg.advance(8 * 24 * time.Hour) // overdue: more time counts from now
	to, err := rg.admin.ExtendDeadline(ctx, alice, "bob", 3)
	if err != nil || !to.Equal(rg.clock().UTC().Add(3*24*time.Hour)) || !to.After(g.Deadline) {
		t.Fatalf("extend an overdue user: %v, %v", to, err)
	}
	rows, _, _ := rg.admin.RolloutUsers(ctx, rollout.Pending, "", 50)
	if len(rows) != 1 || rows[0].ExtendedBy != "alice" || rows[0].SkipsLeft != 2 {
		t.Fatalf("bob after the extension: %+v", rows)
	}
	// A pending user's deadline moves from where it is.
	again, err := rg.admin.ExtendDeadline(ctx, alice, "bob", 7)
	if err != nil || !again.Equal(to.Add(7*24*time.Hour)) {
		t.Fatalf("extend again: %v, %v", again, err)
	}
	for _, bad := range []int{0, -1, policy.MaxSetupDays + 1} {
		if _, err := rg.admin.ExtendDeadline(ctx, alice, "bob", bad); !errors.Is(err, ErrExtendDays) {
			t.Errorf("%d days: %v", bad, err)
		}
	}
	if _, err := rg.admin.ExtendDeadline(ctx, alice, "nobody", 3); !errors.Is(err, accounts.ErrNoSuchUser) {
		t.Errorf("an unknown user: %v", err)
	}
	rg.addUser("carol", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	if _, err := rg.admin.ExtendDeadline(ctx, alice, "carol", 3); !errors.Is(err, rollout.ErrNotPending) {
		t.Errorf("an enrolled user: %v", err)
	}
	events, _, _ := rg.admin.ListAudit(ctx, "", 10)
	extended := 0
	for _, e := range events {
		if e.Action == "setup_deadline_extended" && e.Subject == "bob" && e.Actor == "alice" {
			extended++
		}
	}
	if extended != 2 {
		t.Fatalf("%d extensions audited, want 2", extended)
	}
}

func TestRemindersAreQueuedOnceInTheUsersLanguage(t *testing.T) {
	p := policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}, EnabledAt: time.Unix(1_799_000_000, 0).UTC(),
		Rollout: policy.Rollout{Mode: policy.SetupByDate, Date: time.Unix(1_800_000_000, 0).UTC().AddDate(0, 0, 5).Format(time.DateOnly), Skips: 3}}
	rg := newRig(t, p)
	ctx := t.Context()
	rg.addUser("bob", nil)
	rg.addUser("marie", func(u *accounts.User) { u.Language = "fr" })
	rg.addUser("set", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	for range 3 {
		if _, err := rg.admin.SendReminders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	job := "reminders/default/1799000000"
	if n := rg.mailer.queued(job); n != 2 {
		t.Fatalf("%d week-before reminders queued, want 2 (bob, marie)", n)
	}
	for _, m := range rg.mailer.queue[job] {
		switch m.Email.To {
		case "marie@acme.example":
			if !strings.Contains(m.Email.Subject, "authentification à deux facteurs") {
				t.Errorf("marie's reminder is not French: %q", m.Email.Subject)
			}
		case "bob@acme.example":
			if !strings.Contains(m.Email.Subject, "Acme Corp: set up two-factor authentication by") {
				t.Errorf("bob's reminder: %q", m.Email.Subject)
			}
		default:
			t.Errorf("a reminder to %s", m.Email.To)
		}
	}
}

func TestNewSetupDeadlineInThePastIsRefused(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	yesterday := rg.clock().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	next := policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}, Rollout: policy.Rollout{Mode: policy.SetupByDate, Date: yesterday, Skips: 3}}
	if _, _, err := rg.admin.ProposeChange(t.Context(), alice, next); !errors.Is(err, ErrRolloutPast) {
		t.Fatalf("a past deadline: %v", err)
	}
}

func TestAdminPageShowsOverdueCountsAndExtendsFromTheTable(t *testing.T) {
	p := withinDays(7, 2)
	rg := newRig(t, p)
	ctx := t.Context()
	for _, id := range []string{"late1", "late2", "soon"} {
		rg.addUser(id, nil)
	}
	// alice, the admin looking, has set up.
	rg.addUser("alice", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	rg.admin.Rollout().Begin(ctx, p, "late1")
	rg.admin.Rollout().Begin(ctx, p, "late2")
	rg.advance(8 * 24 * time.Hour)
	rg.admin.Rollout().Begin(ctx, p, "soon")
	mux := rg.pagesOf(t)
	var cookies []*http.Cookie
	home := visit(t, mux, "en", http.MethodGet, "/.2fa/admin", nil, &cookies)
	if got := htmltest.Text(home.Body.String(), "count-overdue"); got != "2 overdue" {
		t.Fatalf("the home page's overdue count: %q", got)
	}
	page := visit(t, mux, "en", http.MethodGet, "/.2fa/admin/rollout?state=overdue", nil, &cookies).Body.String()
	if !strings.Contains(page, `id="user-late1"`) || !strings.Contains(page, `id="user-late2"`) || strings.Contains(page, `id="user-soon"`) {
		t.Fatalf("the overdue filter:\n%s", page)
	}
	csrf := htmltest.AttrByID(page, "csrf-extend-late1", "value")
	if csrf == "" {
		_, csrf, _ = htmltest.CodeForm(t, page)
	}
	done := visit(t, mux, "en", http.MethodPost, "/.2fa/admin/rollout/extend", url.Values{"csrf": {csrf}, "user": {"late1"}, "days": {"7"}, "state": {"overdue"}}, &cookies)
	if done.Code != http.StatusOK || !strings.Contains(done.Body.String(), "late1 now has until") {
		t.Fatalf("extend from the table: %d\n%s", done.Code, done.Body.String())
	}
	if got := htmltest.Text(done.Body.String(), "count-overdue"); got != "1 overdue" {
		t.Fatalf("after the extension, overdue: %q", got)
	}
	de := visit(t, mux, "de", http.MethodGet, "/.2fa/admin/rollout", nil, &cookies).Body.String()
	if !strings.Contains(de, "überfällig") {
		t.Fatalf("the German progress page:\n%s", de)
	}
}
