package orgadmin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/store"
)

// The rollout's use cases: how far setup has come, who is still missing,
// and more time for one user.

// Rollout is the realm's rollout, which the pages (the time users are
// given) and the reminders share.
func (a *Admin) Rollout() *rollout.Plan { return a.plan }

// RolloutProgress counts the realm's users by where they stand.
func (a *Admin) RolloutProgress(ctx context.Context) (rollout.Counts, error) {
	return a.plan.Progress(ctx, a.Policy())
}

// RolloutRow is one user in the rollout's table.
type RolloutRow struct {
	ID         string        `json:"id"`
	Email      string        `json:"email,omitempty"`
	State      rollout.State `json:"state"`
	Deadline   time.Time     `json:"deadline,omitzero"`
	SkipsLeft  int           `json:"skips_left"`
	ExtendedBy string        `json:"extended_by,omitempty"`
}

// RolloutUsers lists up to limit users after the ID after whose state is
// state (every state when ""), and the ID to go on from.
func (a *Admin) RolloutUsers(ctx context.Context, state rollout.State, after string, limit int) ([]RolloutRow, string, error) {
	p, now := a.Policy(), a.cfg.Now()
	var rows []RolloutRow
	for {
		users, next, err := accounts.UserRecords(ctx, a.backend, a.cfg.Realm, after, 500)
		if err != nil {
			return nil, "", err
		}
		for _, u := range users {
			st := a.plan.StatusOf(p, u, now)
			if state != "" && st.State != state {
				continue
			}
			row := RolloutRow{ID: u.ID, Email: u.Email, State: st.State, Deadline: st.Deadline, SkipsLeft: st.SkipsLeft}
			if u.Rollout != nil {
				row.ExtendedBy = u.Rollout.ExtendedBy
			}
			rows = append(rows, row)
			if len(rows) == limit {
				return rows, u.ID, nil
			}
		}
		if next == "" {
			return rows, "", nil
		}
		after = next
	}
}

// ErrExtendDays: more time must be between a day and the longest period.
var ErrExtendDays = fmt.Errorf("give between 1 and %d more days", policy.MaxSetupDays)

// ExtendDeadline gives one user days more to set up: from their deadline,
// or from now when it has passed. A deadline only ever moves later.
func (a *Admin) ExtendDeadline(ctx context.Context, by Actor, user string, days int) (time.Time, error) {
	if days < 1 || days > policy.MaxSetupDays {
		return time.Time{}, ErrExtendDays
	}
	p, now := a.Policy(), a.cfg.Now().UTC()
	u, err := accounts.GetUser(ctx, a.backend, a.cfg.Realm, user)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, accounts.ErrNoSuchUser
	} else if err != nil {
		return time.Time{}, err
	}
	from := a.plan.StatusOf(p, *u, now).Deadline
	if from.Before(now) {
		from = now
	}
	to := from.Add(time.Duration(days) * 24 * time.Hour)
	if _, err := a.plan.Extend(ctx, p, user, to, by.ID); err != nil {
		return time.Time{}, err
	}
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "setup_deadline_extended", Subject: user, IP: by.IP, Detail: "deadline=" + to.Format(time.RFC3339)})
	a.cfg.OnUserChanged(user)
	return to, nil
}

// ErrRolloutPast: a setup deadline by date must not be a day gone by.
var ErrRolloutPast = errors.New("the last day to set up must be today or later")

// checkRolloutDate refuses a new deadline by date in the past (a date
// kept from before may have passed: setup is then simply required).
func (a *Admin) checkRolloutDate(next policy.Policy) error {
	if next.Rollout.Mode != policy.SetupByDate || next.Rollout == a.Policy().Rollout {
		return nil
	}
	day, err := next.Rollout.LastDay()
	if err != nil {
		return nil // Validate says so
	}
	if day.AddDate(0, 0, 1).Before(a.cfg.Now().UTC()) {
		return ErrRolloutPast
	}
	return nil
}
