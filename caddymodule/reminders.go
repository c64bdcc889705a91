package caddymodule

import (
	"context"
	"time"
)

// remindEvery is how often the realms' setup reminders are looked for:
// each reminder is due on a day, so an hour late is on time.
const remindEvery = time.Hour

// sendReminders queues, until ctx ends, the setup reminders that are due
// in each realm. Every instance may run it: a reminder is recorded on the
// user before it is queued, and queued under a key of its own.
func (a *App) sendReminders(ctx context.Context, run *running) {
	every(ctx, remindEvery, func() {
		for name, rs := range run.realms {
			n, err := rs.operator.SendReminders(ctx)
			if err != nil {
				a.slogger.Warn("could not queue every setup reminder", "realm", name, "queued", n, "error", err)
			} else if n > 0 {
				a.slogger.Info("setup reminders queued", "realm", name, "count", n)
			}
		}
	})
}

// every runs fn now and then every d, until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
