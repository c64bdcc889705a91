package orgadmin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// announcer tells people of what admins did: setup instructions to every
// known user when two-factor authentication is turned on, a note to the
// other admins of every change, a notice to a user who was reset.
type announcer struct {
	backend store.Backend
	cfg     *Config
}

// changed follows an applied change (in the background: it may mail
// thousands).
func (t *announcer) changed(ctx context.Context, by Actor, prev, next policy.Policy) {
	if next.Enabled && !prev.Enabled && t.cfg.Mailer != nil {
		if err := t.queueSetupEmails(ctx, by, next); err != nil {
			t.cfg.Logger.Error("could not queue the setup emails", "error", err)
		}
	}
	t.announce(ctx, by, next)
}

// setupJob names the setup-email job of one enable of one realm (jobs of
// several realms may share a store).
func (t *announcer) setupJob(p policy.Policy) string {
	return fmt.Sprintf("setup/%s/v%d", t.cfg.Realm, p.Version)
}

func (t *announcer) queueSetupEmails(ctx context.Context, by Actor, p policy.Policy) error {
	job := t.setupJob(p)
	url := ""
	if t.cfg.SiteURL != "" {
		url = strings.TrimRight(t.cfg.SiteURL, "/") + "/"
	}
	total := 0
	err := t.eachUser(ctx, func(users []accounts.User) error {
		items := make([]notify.QueuedEmail, 0, len(users))
		for _, u := range users {
			if u.Email == "" {
				continue
			}
			w := t.words(&u)
			var names []string
			for _, m := range p.Ordered() {
				names = append(names, w.T("method."+m))
			}
			m := notify.SetupEmail(w, t.cfg.Org, displayName(&u), url, names, actorName(w, by), setupTime(p))
			m.To = u.Email
			items = append(items, notify.QueuedEmail{Key: u.ID, Email: m})
		}
		n, err := t.cfg.Mailer.Enqueue(ctx, job, items)
		total += n
		return err
	})
	if err != nil {
		return err
	}
	t.cfg.Logger.Info("setup emails queued", "realm", t.cfg.Realm, "job", job, "count", total)
	return nil
}

// announce emails every other known admin about a change.
func (t *announcer) announce(ctx context.Context, by Actor, p policy.Policy) {
	if t.cfg.Email == nil {
		return
	}
	err := t.eachUser(ctx, func(users []accounts.User) error {
		for _, u := range users {
			if u.ID == by.ID || u.Email == "" || !slices.Contains(u.Groups, t.cfg.AdminPermission) {
				continue
			}
			w := t.words(&u)
			t.send(ctx, u.Email, notify.PolicyChangedEmail(w, t.cfg.Org, actorName(w, by), summaryText(w, p), t.cfg.Now()), "the change announcement")
		}
		return nil
	})
	if err != nil {
		t.cfg.Logger.Warn("could not list admins to announce a change", "error", err)
	}
}

// eachUser pages through the realm's user records.
func (t *announcer) eachUser(ctx context.Context, fn func([]accounts.User) error) error {
	after := ""
	for {
		users, next, err := accounts.UserRecords(ctx, t.backend, t.cfg.Realm, after, 1000)
		if err != nil {
			return err
		}
		if err := fn(users); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// resetEmail tells u that by reset their two-factor authentication.
func (t *announcer) resetEmail(u *accounts.User, by Actor) notify.Email {
	w := t.words(u)
	return notify.ResetEmail(w, t.cfg.Org, displayName(u), actorName(w, by), t.cfg.Now())
}

// words are the language to write to u in: their choice, else their last
// page's, else the realm's default.
func (t *announcer) words(u *accounts.User) *locale.Words {
	c := t.cfg.Catalog
	if c == nil {
		c = locale.Default()
	}
	return c.Choose(u.Lang(), "", t.cfg.Language)
}

// actorName is how an email in w's language names by.
func actorName(w *locale.Words, by Actor) string {
	if by.ID == Operator.ID {
		return w.T("notify.operator")
	}
	return by.name()
}

// send mails m to a user.
func (t *announcer) send(ctx context.Context, to string, m notify.Email, what string) {
	m.To = to
	notify.SendNotice(ctx, t.cfg.Email, m, t.cfg.Logger, what)
}

// setupTime is the time the policy gives users to set up, as the setup
// email says it.
func setupTime(p policy.Policy) notify.SetupTime {
	switch p.Rollout.Mode {
	case policy.SetupByDate:
		return notify.SetupTime{Deadline: p.Rollout.Deadline(time.Time{})}
	case policy.SetupWithinDays:
		return notify.SetupTime{Days: p.Rollout.Days}
	}
	return notify.SetupTime{}
}
