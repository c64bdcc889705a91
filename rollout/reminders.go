package rollout

import (
	"context"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Reminder is one of the emails before a user's deadline.
type Reminder uint8

// The reminders, each sent once per user and enabling: a week before the
// deadline, a day before, and when it has come. (The email at enabling is
// the setup email every user gets.)
const (
	WeekBefore Reminder = 1 << iota
	DayBefore
	OnTheDay
)

// due is the reminder whose time has come at now for a deadline, the
// latest first; the earlier ones are then no news and are not sent.
var due = []struct {
	r      Reminder
	before time.Duration
}{
	{OnTheDay, 0},
	{DayBefore, 24 * time.Hour},
	{WeekBefore, 7 * 24 * time.Hour},
}

// Sender queues one reminder email to a user.
type Sender func(ctx context.Context, u accounts.User, r Reminder, deadline time.Time) error

// Remind sends every user the reminder that is due, once: the reminder is
// recorded on the user's record before it is queued, so two instances
// sweeping at once send it once (a queue that fails then loses that one
// reminder, logged by send's caller, rather than sending it twice).
func (pl *Plan) Remind(ctx context.Context, p policy.Policy, send Sender) (int, error) {
	if !p.Enabled || !p.Rollout.Gives() {
		return 0, nil
	}
	now := pl.now()
	var ids []string
	err := pl.eachUser(ctx, func(u accounts.User) error {
		if st := pl.StatusOf(p, u, now); st.State == Pending || st.State == Overdue && st.Deadline.After(time.Time{}) {
			ids = append(ids, u.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	sent := 0
	var errs []error
	for _, id := range ids {
		u, r, deadline, err := pl.reserve(ctx, p, id, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r == 0 {
			continue
		}
		if err := send(ctx, *u, r, deadline); err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// reserve marks the reminder due for the user as sent, with every earlier
// one; r is 0 when none is due.
func (pl *Plan) reserve(ctx context.Context, p policy.Policy, id string, now time.Time) (*accounts.User, Reminder, time.Time, error) {
	var r Reminder
	var deadline time.Time
	u, err := accounts.UpdateUser(ctx, pl.Store, pl.Realm, id, func(u *accounts.User) error {
		r = 0
		if !pl.eligible(p, u) {
			return store.ErrAbort
		}
		current(p, u, false, now)
		rec := u.Rollout
		deadline = rec.Deadline
		if deadline.IsZero() {
			return store.ErrAbort
		}
		for i, d := range due {
			at := deadline.Add(-d.before)
			// Not yet; or already sent; or its time was over before the
			// user's period began (a 3-day period has no week-before).
			if now.Before(at) || Reminder(rec.Reminded)&d.r != 0 || !rec.Started.IsZero() && rec.Started.After(at) {
				continue
			}
			r = d.r
			for _, earlier := range due[i:] {
				rec.Reminded |= uint8(earlier.r)
			}
			return nil
		}
		return store.ErrAbort
	})
	if errors.Is(err, store.ErrAbort) {
		return nil, 0, time.Time{}, nil
	}
	return u, r, deadline, err
}
