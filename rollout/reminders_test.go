package rollout

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
)

type sent struct {
	user string
	r    Reminder
}

func recorder() (Sender, func() []sent) {
	var mu sync.Mutex
	var got []sent
	return func(_ context.Context, u accounts.User, r Reminder, _ time.Time) error {
			mu.Lock()
			got = append(got, sent{u.ID, r})
			mu.Unlock()
			return nil
		}, func() []sent {
			mu.Lock()
			defer mu.Unlock()
			out := got
			got = nil
			return out
		}
}

// Each reminder goes once, at its time, to users who still have no
// method; the sweep runs hourly, as the app runs it.
func TestRemindersSentOnceEachAtTheRightTimes(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := byDate("2027-01-20", 3) // required from 21 January 00:00 UTC
	addUser(t, pl, "alice", nil)
	addUser(t, pl, "bob", nil)
	addUser(t, pl, "enrolled", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
	addUser(t, pl, "admin", func(u *accounts.User) { u.Groups = []string{"general_settings:manager"} })
	send, take := recorder()
	when := map[Reminder]time.Time{}
	for c.Now().Before(time.Date(2027, 1, 25, 0, 0, 0, 0, time.UTC)) {
		if _, err := pl.Remind(ctx, p, send); err != nil {
			t.Fatal(err)
		}
		for _, s := range take() {
			if s.user != "alice" && s.user != "bob" {
				t.Fatalf("reminded %s", s.user)
			}
			if s.user == "alice" {
				if _, twice := when[s.r]; twice {
					t.Fatalf("reminder %d sent twice", s.r)
				}
				when[s.r] = c.Now()
			}
		}
		if c.Now().Equal(time.Date(2027, 1, 20, 12, 0, 0, 0, time.UTC)) {
			// Bob sets up on the last day: no "on the day" reminder for him.
			addUser(t, pl, "bob", func(u *accounts.User) { u.SetEnrollment(accounts.Enrollment{Method: "totp"}) })
		}
		c.advance(time.Hour)
	}
	deadline := time.Date(2027, 1, 21, 0, 0, 0, 0, time.UTC)
	for r, before := range map[Reminder]time.Duration{WeekBefore: 7 * 24 * time.Hour, DayBefore: 24 * time.Hour, OnTheDay: 0} {
		at, ok := when[r]
		if !ok {
			t.Fatalf("reminder %d never sent", r)
		}
		// Within the hour after its time (the sweep is hourly).
		if due := deadline.Add(-before); at.Before(due) || at.Sub(due) >= time.Hour {
			t.Errorf("reminder %d at %v, due %v", r, at, due)
		}
	}
}

// A sweep that was down for days sends only the latest reminder due.
func TestLateSweepSendsOnlyTheLatestReminder(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := byDate("2027-01-20", 3)
	addUser(t, pl, "alice", nil)
	send, take := recorder()
	c.now = time.Date(2027, 1, 20, 6, 0, 0, 0, time.UTC)
	pl.Remind(ctx, p, send)
	pl.Remind(ctx, p, send)
	if got := take(); len(got) != 1 || got[0].r != DayBefore {
		t.Fatalf("sent %+v", got)
	}
}

// Two instances sweeping at once send each reminder once.
func TestParallelSweepsRemindOnce(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := byDate("2027-01-20", 3)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		addUser(t, pl, id, nil)
	}
	c.now = time.Date(2027, 1, 14, 1, 0, 0, 0, time.UTC)
	send, take := recorder()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { pl.Remind(ctx, p, send) })
	}
	wg.Wait()
	if got := take(); len(got) != 5 {
		t.Fatalf("%d reminders for 5 users: %+v", len(got), got)
	}
}

// A period shorter than a week has no week-before reminder.
func TestShortPeriodHasNoWeekBeforeReminder(t *testing.T) {
	pl, c := newPlan(t)
	ctx := context.Background()
	p := withinDays(3, 2)
	addUser(t, pl, "alice", nil)
	pl.Begin(ctx, p, "alice")
	send, take := recorder()
	var got []sent
	for range 4 * 24 {
		pl.Remind(ctx, p, send)
		got = append(got, take()...)
		c.advance(time.Hour)
	}
	if len(got) != 2 || got[0].r != DayBefore || got[1].r != OnTheDay {
		t.Fatalf("sent %+v", got)
	}
}
