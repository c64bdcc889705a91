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
	t := time.NewTicker(remindEvery)
	defer t.Stop()
	for {
		for name, rs := range run.realms {
			n, err := rs.operator.SendReminders(ctx)
			if err != nil {
				a.slogger.Warn("could not queue every setup reminder", "realm", name, "queued", n, "error", err)
			} else if n > 0 {
				a.slogger.Info("setup reminders queued", "realm", name, "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
