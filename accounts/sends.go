package accounts

import (
	"context"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// What bounds sending codes: a cooldown between two sends, sends per hour
// per user, and for SMS texts per day per user and per number (across
// users and realms), against mail bombing and SMS pumping.

// SendLimits are a realm's send limits.
type SendLimits struct {
	EmailCooldown, SMSCooldown          time.Duration
	EmailPerHour, SMSPerHour, SMSPerDay int
}

// SendRefused says a send was not allowed, and when it may be.
type SendRefused struct {
	Cooldown bool      // sent moments ago (else a cap was reached)
	Retry    time.Time // when sending may work again (zero: not known)
}

func (e *SendRefused) Error() string { return "accounts: send refused" }

// Allowance is a send that was allowed: give it back when nothing was
// sent.
type Allowance struct {
	b      store.Backend
	counts []store.Key
	cool   store.Key
}

// TakeSend allows one send of method to target for user, or says why not
// (a *SendRefused).
func TakeSend(ctx context.Context, b store.Backend, realm, user, method, target string, lim SendLimits, now time.Time) (*Allowance, error) {
	k := Keys{realm}
	cooldown, perHour := lim.EmailCooldown, lim.EmailPerHour
	if method == "sms" {
		cooldown, perHour = lim.SMSCooldown, lim.SMSPerHour
	}
	a := &Allowance{b: b, cool: k.SendCooldown(user, method)}
	ok, err := b.PutIfAbsent(ctx, a.cool, []byte(now.UTC().Format(time.RFC3339Nano)), cooldown)
	if err != nil {
		return nil, err
	}
	if !ok {
		at := now.Add(cooldown)
		if raw, err := b.Get(ctx, a.cool); err == nil {
			if t, err := time.Parse(time.RFC3339Nano, string(raw)); err == nil {
				at = t.Add(cooldown)
			}
		}
		return nil, &SendRefused{Cooldown: true, Retry: at}
	}
	type capRule struct {
		key    store.Key
		limit  int
		window time.Duration
	}
	rules := []capRule{{k.SendsPerHour(method, user), perHour, time.Hour}}
	if method == "sms" {
		rules = append(rules,
			capRule{k.TextsPerDay(user), lim.SMSPerDay, 24 * time.Hour},
			capRule{TextsPerDayTo(target), lim.SMSPerDay, 24 * time.Hour})
	}
	for _, r := range rules {
		n, resets, err := b.Incr(ctx, r.key, 1, r.window)
		if err != nil {
			a.GiveBack(ctx)
			return nil, err
		}
		a.counts = append(a.counts, r.key)
		if n > int64(r.limit) {
			a.GiveBack(ctx)
			return nil, &SendRefused{Retry: resets}
		}
	}
	return a, nil
}

// GiveBack returns a send that did not happen, so the user can retry.
func (a *Allowance) GiveBack(ctx context.Context) {
	for _, k := range a.counts {
		a.b.Incr(ctx, k, -1, time.Hour)
	}
	a.b.Delete(ctx, a.cool)
}
