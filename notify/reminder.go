package notify

import (
	"time"

	"github.com/caddy2fa/caddy2fa/locale"
)

// SetupTime is the time users are given to set up two-factor
// authentication; the zero value: at their next sign-in.
type SetupTime struct {
	// Deadline is when setup becomes required (a rollout by date).
	Deadline time.Time
	// Days is the time from the user's next sign-in (a rollout in days).
	Days int
}

// lastDay is the day before a deadline, in words: "by 20 January" for a
// deadline of 21 January, 00:00.
func lastDay(w *locale.Words, deadline time.Time) string {
	return w.Date(deadline.Add(-time.Second))
}

// Reminder is one of the reminders before a user's setup deadline.
type Reminder int

// The reminders: a week before the deadline, a day before, and when it
// has come.
const (
	ReminderWeek Reminder = iota + 1
	ReminderDay
	ReminderDue
)

// ReminderEmail reminds user that they have until deadline (at now: that
// long left) to set up two-factor authentication at url, or that setup is
// now required.
func ReminderEmail(w *locale.Words, org, user, url string, r Reminder, deadline, now time.Time) Email {
	d := emailData{w: w, Org: org, User: user, URL: url, When: lastDay(w, deadline), Due: r == ReminderDue}
	if left := deadline.Sub(now); left > 0 {
		d.Lifetime = w.Duration(left.Round(time.Hour))
	}
	subject := w.T("notify.reminder.subject", "Org", oneLine(org), "Date", d.When)
	if d.Due {
		subject = w.T("notify.reminder.subject_due", "Org", oneLine(org))
	}
	return reminderTemplate.render(subject, d)
}
