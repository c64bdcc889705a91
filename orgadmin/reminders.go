package orgadmin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/rollout"
)

// reminderKinds are the rollout's reminders as the emails name them.
var reminderKinds = map[rollout.Reminder]notify.Reminder{
	rollout.WeekBefore: notify.ReminderWeek,
	rollout.DayBefore:  notify.ReminderDay,
	rollout.OnTheDay:   notify.ReminderDue,
}

// SendReminders queues the reminder that is due to each user who has not
// set up yet, in their language, through the durable queue (whose keys
// also make a reminder queued twice go once). It reports how many.
func (a *Admin) SendReminders(ctx context.Context) (int, error) {
	if a.cfg.Mailer == nil {
		return 0, nil
	}
	p := a.Policy()
	job := fmt.Sprintf("reminders/%s/%d", a.cfg.Realm, p.EnabledAt.Unix())
	url := ""
	if a.cfg.SiteURL != "" {
		url = strings.TrimRight(a.cfg.SiteURL, "/") + "/"
	}
	return a.plan.Remind(ctx, p, func(ctx context.Context, u accounts.User, r rollout.Reminder, deadline time.Time) error {
		if u.Email == "" {
			return nil
		}
		w := a.tell.words(&u)
		m := notify.ReminderEmail(w, a.cfg.Org, displayName(&u), url, reminderKinds[r], deadline, a.cfg.Now())
		m.To = u.Email
		_, err := a.cfg.Mailer.Enqueue(ctx, job, []notify.QueuedEmail{{Key: fmt.Sprintf("%s/%d", u.ID, r), Email: m}})
		return err
	})
}
