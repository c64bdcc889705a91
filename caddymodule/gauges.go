package caddymodule

import (
	"context"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/store"
)

// gaugeEvery is how often the gauges are counted again: in the
// background, never per scrape (a scrape must not walk the store).
const gaugeEvery = time.Minute

// countGauges counts, until ctx ends, the users of each realm by state,
// their trusted devices, and the setup-mail queue's backlog.
func (a *App) countGauges(ctx context.Context, run *running) {
	every(ctx, gaugeEvery, func() { a.countOnce(ctx, run) })
}

func (a *App) countOnce(ctx context.Context, run *running) {
	m := a.metrics
	for name := range run.realms {
		enrolled, pending, locked, devices, ok := 0, 0, 0, 0, true
		for after := ""; ok; {
			rows, next, err := accounts.ListUsers(ctx, run.backend, name, after, store.MaxListLimit)
			if err != nil {
				a.slogger.Warn("could not count users for the metrics", "realm", name, "error", err)
				ok = false
				break
			}
			for _, u := range rows {
				switch {
				case len(u.Methods) > 0:
					enrolled++
				default:
					pending++
				}
				if u.Locked {
					locked++
				}
				devices += u.TrustedDevices
			}
			after, ok = next, next != ""
		}
		m.users.WithLabelValues(name, "enrolled").Set(float64(enrolled))
		m.users.WithLabelValues(name, "pending").Set(float64(pending))
		m.users.WithLabelValues(name, "locked").Set(float64(locked))
		m.devices.WithLabelValues(name).Set(float64(devices))
	}
	if run.queue == nil {
		return
	}
	waiting, oldest, err := run.queue.Backlog(ctx)
	if err != nil {
		a.slogger.Warn("could not count the setup-mail queue for the metrics", "error", err)
		return
	}
	m.queueDepth.Set(float64(waiting))
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	m.queueOldest.Set(age)
}
