package rollout

import (
	"context"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
)

// State is where a user stands in the rollout.
type State string

const (
	// Enrolled: the user has a method.
	Enrolled State = "enrolled"
	// Pending: no method yet, and time left.
	Pending State = "pending"
	// Overdue: no method, and setup is required at their next sign-in.
	Overdue State = "overdue"
	// NotStarted: no method, and their period starts at their first
	// sign-in (a rollout in days).
	NotStarted State = "not_started"
)

// States in the order the admin page lists them.
var States = []State{Overdue, Pending, NotStarted, Enrolled}

// Status is one user's place in the rollout.
type Status struct {
	State     State
	Deadline  time.Time // zero: none (enrolled, required at once, not started)
	SkipsLeft int
}

// StatusOf is where u stands under p at now.
func (pl *Plan) StatusOf(p policy.Policy, u accounts.User, now time.Time) Status {
	if u.Enrolled() {
		return Status{State: Enrolled}
	}
	if !pl.eligible(p, &u) {
		return Status{State: Overdue}
	}
	if u.Rollout != nil {
		r := *u.Rollout // current may change it: not the caller's
		u.Rollout = &r
	}
	current(p, &u, false, now)
	g := graceOf(p, u.Rollout)
	switch {
	case u.Rollout.Deadline.IsZero():
		return Status{State: NotStarted}
	case !now.Before(g.Deadline):
		return Status{State: Overdue, Deadline: g.Deadline}
	}
	return Status{State: Pending, Deadline: g.Deadline, SkipsLeft: g.SkipsLeft}
}

// Counts are the realm's users by state.
type Counts map[State]int

// Progress counts the realm's users by state, reading every user record
// (the admin page's summary; a few milliseconds per thousand users).
func (pl *Plan) Progress(ctx context.Context, p policy.Policy) (Counts, error) {
	now := pl.now()
	counts := Counts{}
	for _, s := range States {
		counts[s] = 0
	}
	err := pl.eachUser(ctx, func(u accounts.User) error {
		counts[pl.StatusOf(p, u, now).State]++
		return nil
	})
	return counts, err
}

// eachUser calls fn with every user record of the realm.
func (pl *Plan) eachUser(ctx context.Context, fn func(accounts.User) error) error {
	after := ""
	for {
		users, next, err := accounts.UserRecords(ctx, pl.Store, pl.Realm, after, 500)
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := fn(u); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}
