package verify

import (
	"context"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/store"
)

// Ladder is a user's progressive hold on code entry, on top of the
// windows: after every Every wrong codes in a row the user waits the next
// of Waits, and after HardAt the account is held for two-factor
// authentication until an admin or the user's email code unlocks it. Even
// within the windows' allowance, a patient guesser gets HardAt tries, not
// about a thousand a day.
type Ladder struct {
	Key    store.Key
	Every  int
	Waits  []time.Duration
	HardAt int
}

// DefaultWaits are the holds after 10, 20, 30 and 40 wrong codes in a row.
var DefaultWaits = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// forgetAfter: a run of wrong codes that stops for this long is forgotten
// (a hard hold is not).
const forgetAfter = 30 * 24 * time.Hour

// Step is what one attempt did to the ladder, for the user's email and the
// audit log: the hold it began (Wait), or the hard hold.
type Step struct {
	Streak int
	Wait   time.Duration
	Hard   bool
}

// Reached reports whether the attempt began a hold.
func (s Step) Reached() bool { return s.Wait > 0 || s.Hard }

// reserve counts one attempt on the ladder atomically, and takes the hold
// the attempt would reach if it fails at once: a parallel attempt is then
// held already. Success (Reset) lifts it.
func (l *Ladder) reserve(ctx context.Context, b store.Backend, now time.Time) (Step, error) {
	var step Step
	var refused *Refused
	_, err := store.UpdateJSON(ctx, b, l.Key, func(s *accounts.LadderState, _ bool) (time.Duration, error) {
		step, refused = Step{}, nil
		switch {
		case s.Hard:
			refused = &Refused{Hard: true}
		case now.Before(s.Until):
			refused = &Refused{Until: s.Until}
		}
		if refused != nil {
			return 0, store.ErrAbort
		}
		s.Streak++
		step.Streak = s.Streak
		switch {
		case l.HardAt > 0 && s.Streak >= l.HardAt:
			s.Hard, step.Hard = true, true
			return 0, nil
		case l.Every > 0 && s.Streak%l.Every == 0:
			i := min(s.Streak/l.Every-1, len(l.Waits)-1)
			if i >= 0 {
				step.Wait = l.Waits[i]
				s.Until = now.Add(step.Wait)
			}
		}
		return forgetAfter, nil
	})
	if err != nil {
		return Step{}, err
	}
	if refused != nil {
		return Step{}, refused
	}
	return step, nil
}

// Reset starts the ladder over: after a right code, an admin's unlock or
// the user's own, by email.
func (l *Ladder) Reset(ctx context.Context, b store.Backend) error {
	if err := b.Delete(ctx, l.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// State reads the user's place on the ladder (the zero state when none).
func (l *Ladder) State(ctx context.Context, b store.Backend) (accounts.LadderState, error) {
	var s accounts.LadderState
	err := store.GetJSON(ctx, b, l.Key, &s)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return s, err
}
