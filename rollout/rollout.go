// Package rollout gives the users of a realm time to set up two-factor
// authentication when the policy allows it: each user's deadline, the
// times they may put setup off, the reminders before the deadline, and
// the admins' view of who is still missing.
package rollout

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Plan is one realm's rollout.
type Plan struct {
	Store store.Backend
	Realm string
	// AdminPermission is the group of org admins, who are never given time.
	AdminPermission string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (pl *Plan) now() time.Time {
	if pl.Now == nil {
		return time.Now().UTC()
	}
	return pl.Now().UTC()
}

// Grace is the time a user without a method is given.
type Grace struct {
	Deadline  time.Time
	SkipsLeft int
}

// Open reports whether the user may put setup off now.
func (g Grace) Open(now time.Time) bool {
	return g.SkipsLeft > 0 && !g.Deadline.IsZero() && now.Before(g.Deadline)
}

// Left is the time until the deadline.
func (g Grace) Left(now time.Time) time.Duration { return g.Deadline.Sub(now) }

// ErrNoTime: the user may not put setup off (no time given, the deadline
// passed, or no skips left).
var ErrNoTime = errors.New("rollout: setup can no longer be put off")

// eligible reports whether a user may be given time at all: never an
// admin, never a user who has, or once had, a method.
func (pl *Plan) eligible(p policy.Policy, u *accounts.User) bool {
	return p.Enabled && p.Rollout.Gives() && !u.Enrolled() && !u.EverEnrolled && !pl.isAdmin(u)
}

func (pl *Plan) isAdmin(u *accounts.User) bool { return pl.Admin(u.Groups) }

// Admin reports whether groups make a user an org admin (never given
// time: they set up before their own change to the policy is confirmed).
func (pl *Plan) Admin(groups []string) bool {
	return pl.AdminPermission != "" && slices.Contains(groups, pl.AdminPermission)
}

// current brings the user's rollout record up to the policy: a fresh one
// for a new enabling, the first sign-in when signedIn, and the deadline
// the policy gives, which only ever moves later. It reports whether it
// changed anything.
func current(p policy.Policy, u *accounts.User, signedIn bool, now time.Time) bool {
	changed := false
	if u.Rollout == nil || !u.Rollout.Since.Equal(p.EnabledAt) {
		u.Rollout = &accounts.Rollout{Since: p.EnabledAt}
		changed = true
	}
	r := u.Rollout
	if signedIn && r.Started.IsZero() {
		r.Started, changed = now, true
	}
	if d := p.Rollout.Deadline(r.Started); d.After(r.Deadline) {
		r.Deadline, changed = d, true
	}
	return changed
}

func graceOf(p policy.Policy, r *accounts.Rollout) Grace {
	return Grace{Deadline: r.Deadline, SkipsLeft: max(0, p.Rollout.Skips-r.Skips)}
}

// Begin is a user's sign-in without a method: it starts their period (the
// first time under this enabling) and returns their grace (zero when they
// are given none).
func (pl *Plan) Begin(ctx context.Context, p policy.Policy, user string) (Grace, error) {
	var g Grace
	now := pl.now()
	_, err := accounts.UpdateUser(ctx, pl.Store, pl.Realm, user, func(u *accounts.User) error {
		if !pl.eligible(p, u) {
			g = Grace{}
			return store.ErrAbort
		}
		changed := current(p, u, true, now)
		g = graceOf(p, u.Rollout)
		if !changed {
			return store.ErrAbort
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrAbort) {
		return Grace{}, err
	}
	return g, nil
}

// Skip puts setup off once: the skip is counted before the user passes
// (two tabs cannot spend one skip twice). It returns the grace left.
func (pl *Plan) Skip(ctx context.Context, p policy.Policy, user string) (Grace, error) {
	var g Grace
	now := pl.now()
	_, err := accounts.UpdateUser(ctx, pl.Store, pl.Realm, user, func(u *accounts.User) error {
		if !pl.eligible(p, u) {
			return ErrNoTime
		}
		current(p, u, true, now)
		if !graceOf(p, u.Rollout).Open(now) {
			return ErrNoTime
		}
		u.Rollout.Skips++
		g = graceOf(p, u.Rollout)
		return nil
	})
	if err != nil {
		return Grace{}, err
	}
	return g, nil
}

// ErrEarlier: a new deadline must be later than the one the user has.
var ErrEarlier = errors.New("a user's setup deadline can only be moved later")

// ErrNotPending: the user has no deadline to extend (they have a method,
// are an admin, or the policy gives no time).
var ErrNotPending = errors.New("this user has no setup deadline to extend")

// Extend moves one user's deadline later, to to; by is the admin.
func (pl *Plan) Extend(ctx context.Context, p policy.Policy, user string, to time.Time, by string) (*accounts.User, error) {
	now := pl.now()
	to = to.UTC()
	return accounts.UpdateUser(ctx, pl.Store, pl.Realm, user, func(u *accounts.User) error {
		if !pl.eligible(p, u) {
			return ErrNotPending
		}
		current(p, u, false, now)
		if !to.After(u.Rollout.Deadline) || !to.After(now) {
			return ErrEarlier
		}
		u.Rollout.Deadline, u.Rollout.ExtendedBy = to, by
		return nil
	})
}
