// Package verify is the one rule every code check follows (authenticator
// codes, emailed and texted codes, admin confirmations, unlock codes):
// reserve an attempt on every counter that bounds guessing, and on the
// user's lock ladder, before the code is compared; then compare; then let
// the outcome move the ladder.
//
// Checking a counter and counting a failure afterwards is a race: a burst
// of parallel guesses all pass the check before any is counted. Here each
// guess takes its place first, with an atomic increment that refuses it at
// the limit, so a burst of a thousand guesses compares no more codes than a
// slow stream would. A reservation is never given back: the right code
// costs an attempt too.
package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Counter bounds attempts in a fixed window: per user, per client network,
// per challenge.
type Counter struct {
	Name   string // what it counts, for the caller ("user", "ip", "challenge")
	Key    store.Key
	Limit  int
	Window time.Duration
}

// Refused says an attempt was not made: a counter is at its limit, or the
// user's ladder holds code entry. The code was not compared.
type Refused struct {
	// Counter is the counter at its limit; "" when the ladder refused.
	Counter string
	// Until is when an attempt may be made again; zero with Hard.
	Until time.Time
	// Hard: the ladder's last step, until an admin or the user's email
	// unlocks it.
	Hard bool
}

func (r *Refused) Error() string {
	if r.Hard {
		return "verify: code entry locked until unlocked"
	}
	return fmt.Sprintf("verify: too many attempts (%s) until %s", r.Counter, r.Until.UTC().Format(time.RFC3339))
}

// Attempt is one reserved try at a code.
type Attempt struct {
	b        store.Backend
	ladder   *Ladder
	counters []Counter
	counts   []int64
	resets   []time.Time
	step     Step
}

// Reserve takes one attempt on every counter, then on the ladder (nil for
// checks the ladder does not govern, such as unlock codes). A *Refused
// error means the code must not be compared; any other error means the
// store could not be asked, and the check fails closed.
func Reserve(ctx context.Context, b store.Backend, now time.Time, ladder *Ladder, counters ...Counter) (*Attempt, error) {
	a := &Attempt{b: b, ladder: ladder, counters: counters, counts: make([]int64, len(counters)), resets: make([]time.Time, len(counters))}
	// Every counter counts every attempt, refused or not.
	var refused *Refused
	for i, c := range counters {
		n, resets, err := b.Incr(ctx, c.Key, 1, c.Window)
		if err != nil {
			return nil, err
		}
		if n > int64(c.Limit) && refused == nil {
			refused = &Refused{Counter: c.Name, Until: resets}
		}
		a.counts[i], a.resets[i] = n, resets
	}
	if refused != nil {
		return nil, refused
	}
	if ladder != nil {
		step, err := ladder.reserve(ctx, b, now)
		if err != nil {
			return nil, err
		}
		a.step = step
	}
	return a, nil
}

// Left is how many attempts the named counter allows after this one (-1
// for a counter the attempt was not reserved on).
func (a *Attempt) Left(name string) int {
	for i, c := range a.counters {
		if c.Name == name {
			return max(0, c.Limit-int(a.counts[i]))
		}
	}
	return -1
}

// Spent returns the first counter this attempt used up, and when it
// allows attempts again: after a wrong code, the next attempt would be
// refused, so the user can be told now.
func (a *Attempt) Spent() (name string, until time.Time, ok bool) {
	for i, c := range a.counters {
		if a.counts[i] >= int64(c.Limit) {
			return c.Name, a.resets[i], true
		}
	}
	return "", time.Time{}, false
}

// Failed reports what the wrong code did to the user's ladder: the step it
// reached, if this attempt was the one that reached it (the hold was
// taken at reservation, so a parallel attempt is already held).
func (a *Attempt) Failed() Step { return a.step }

// Succeeded ends the user's run of wrong codes: the ladder starts over.
func (a *Attempt) Succeeded(ctx context.Context) error {
	if a.ladder == nil {
		return nil
	}
	return a.ladder.Reset(ctx, a.b)
}
