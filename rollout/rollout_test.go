package rollout

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// clock is the tests' time: it moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var enabled = time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)

func newPlan(t *testing.T) (*Plan, *clock) {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := &clock{now: enabled.Add(time.Hour)}
	return &Plan{Store: b, Realm: "default", AdminPermission: "general_settings:manager", Now: c.Now}, c
}

func withinDays(days, skips int) policy.Policy {
	return policy.Policy{Enabled: true, Methods: []string{"totp"}, EnabledAt: enabled,
		Rollout: policy.Rollout{Mode: policy.SetupWithinDays, Days: days, Skips: skips}}
}

func byDate(date string, skips int) policy.Policy {
	return policy.Policy{Enabled: true, Methods: []string{"totp"}, EnabledAt: enabled,
		Rollout: policy.Rollout{Mode: policy.SetupByDate, Date: date, Skips: skips}}
}

func addUser(t *testing.T, pl *Plan, id string, edit func(*accounts.User)) {
	t.Helper()
	_, err := accounts.UpdateUser(context.Background(), pl.Store, pl.Realm, id, func(u *accounts.User) error {
		u.Email = id + "@example.com"
		if edit != nil {
			edit(u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUserInsideThePeriodSkipsKTimesThenMustEnroll(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := withinDays(14, 3)
	addUser(t, pl, "alice", nil)
	g, err := pl.Begin(ctx, p, "alice")
	if err != nil || !g.Open(c.Now()) || g.SkipsLeft != 3 || !g.Deadline.Equal(c.Now().Add(14*24*time.Hour)) {
		t.Fatalf("Begin = %+v, %v", g, err)
	}
	for want := 2; want >= 0; want-- {
		c.advance(time.Hour)
		g, err := pl.Skip(ctx, p, "alice")
		if err != nil || g.SkipsLeft != want {
			t.Fatalf("skip: %+v, %v (want %d left)", g, err, want)
		}
	}
	if _, err := pl.Skip(ctx, p, "alice"); !errors.Is(err, ErrNoTime) {
		t.Fatalf("a fourth skip: %v", err)
	}
	if g, _ := pl.Begin(ctx, p, "alice"); g.Open(c.Now()) {
		t.Fatal("with no skips left the user must enroll")
	}
}

func TestAfterTheDeadlineNoSkip(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := byDate("2027-01-10", 5)
	addUser(t, pl, "bob", nil)
	if g, _ := pl.Begin(ctx, p, "bob"); !g.Open(c.Now()) || !g.Deadline.Equal(time.Date(2027, 1, 11, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("before the date: %+v", g)
	}
	c.now = time.Date(2027, 1, 10, 23, 59, 0, 0, time.UTC)
	if _, err := pl.Skip(ctx, p, "bob"); err != nil {
		t.Fatalf("on the last day: %v", err)
	}
	c.now = time.Date(2027, 1, 11, 0, 0, 0, 0, time.UTC)
	if _, err := pl.Skip(ctx, p, "bob"); !errors.Is(err, ErrNoTime) {
		t.Fatalf("after the last day: %v", err)
	}
}

func TestAdminsAndFormerlyEnrolledUsersAreNeverGivenTime(t *testing.T) {
	pl, _ := newPlan(t)
	ctx := context.Background()
	p := withinDays(30, 3)
	addUser(t, pl, "admin", func(u *accounts.User) { u.Groups = []string{"general_settings:manager"} })
	addUser(t, pl, "reset", func(u *accounts.User) { u.EverEnrolled = true })
	addUser(t, pl, "enrolled", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	for _, id := range []string{"admin", "reset", "enrolled"} {
		if g, err := pl.Begin(ctx, p, id); err != nil || g != (Grace{}) {
			t.Errorf("%s given %+v, %v", id, g, err)
		}
		if _, err := pl.Skip(ctx, p, id); !errors.Is(err, ErrNoTime) {
			t.Errorf("%s skipped: %v", id, err)
		}
	}
}

func TestParallelSkipsCannotSpendMoreThanK(t *testing.T) {
	pl, _ := newPlan(t)
	ctx := context.Background()
	p := withinDays(30, 3)
	addUser(t, pl, "carol", nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 50 {
		wg.Go(func() {
			if _, err := pl.Skip(ctx, p, "carol"); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 3 {
		t.Fatalf("%d skips accepted of 3", ok)
	}
}

func TestDeadlineNeverMovesEarlier(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	addUser(t, pl, "dave", nil)
	g1, _ := pl.Begin(ctx, withinDays(30, 3), "dave")
	// The admin shortens the period: dave keeps the deadline he was given.
	c.advance(24 * time.Hour)
	g2, _ := pl.Begin(ctx, withinDays(7, 3), "dave")
	if !g2.Deadline.Equal(g1.Deadline) {
		t.Fatalf("deadline moved from %v to %v", g1.Deadline, g2.Deadline)
	}
	// Extending earlier than the deadline is refused; later is kept.
	if _, err := pl.Extend(ctx, withinDays(7, 3), "dave", g1.Deadline.Add(-time.Hour), "admin"); !errors.Is(err, ErrEarlier) {
		t.Fatalf("extend earlier: %v", err)
	}
	later := g1.Deadline.Add(48 * time.Hour)
	u, err := pl.Extend(ctx, withinDays(7, 3), "dave", later, "admin")
	if err != nil || !u.Rollout.Deadline.Equal(later) || u.Rollout.ExtendedBy != "admin" {
		t.Fatalf("extend: %+v, %v", u, err)
	}
	if g, _ := pl.Begin(ctx, withinDays(30, 3), "dave"); !g.Deadline.Equal(later) {
		t.Fatalf("after the extension: %v", g.Deadline)
	}
	// A new enabling starts afresh.
	p := withinDays(7, 3)
	p.EnabledAt = enabled.Add(90 * 24 * time.Hour)
	c.now = p.EnabledAt.Add(time.Minute)
	if g, _ := pl.Begin(ctx, p, "dave"); !g.Deadline.Equal(c.now.Add(7*24*time.Hour)) || g.SkipsLeft != 3 {
		t.Fatalf("a new enabling: %+v", g)
	}
}

func TestProgressCountsEveryState(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := withinDays(10, 2)
	addUser(t, pl, "enrolled", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	addUser(t, pl, "waiting", nil)
	addUser(t, pl, "pending", nil)
	addUser(t, pl, "late", nil)
	addUser(t, pl, "admin", func(u *accounts.User) { u.Groups = []string{"general_settings:manager"} })
	pl.Begin(ctx, p, "late")
	c.advance(9 * 24 * time.Hour)
	pl.Begin(ctx, p, "pending")
	c.advance(2 * 24 * time.Hour)
	got, err := pl.Progress(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Enrolled: 1, NotStarted: 1, Pending: 1, Overdue: 2}
	for _, s := range States {
		if got[s] != want[s] {
			t.Errorf("%s: %d, want %d", s, got[s], want[s])
		}
	}
}
