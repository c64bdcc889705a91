package notify

import (
	"time"

	"github.com/caddy2fa/caddy2fa/locale"
)

// LockMessage is what a code-entry hold notice says.
type LockMessage struct {
	// Words are the language to write in; nil: English.
	Words *locale.Words
	Org   string
	User  string
	Wrong int           // wrong codes in a row
	Wait  time.Duration // the hold; zero with Hard
	Hard  bool          // held until unlocked
	// SiteURL and UnlockPath make the unlock link (no link without a
	// site URL: links never come from a request's Host).
	SiteURL, UnlockPath string
}

// LockNotice tells a user that code entry on their account is held after
// wrong codes, which someone who knows their password may have typed.
func LockNotice(m LockMessage) Email {
	w := m.Words
	d := emailData{w: w, Org: m.Org, User: m.User, Number: m.Wrong, Hard: m.Hard}
	if !m.Hard {
		d.Wait = w.Duration(m.Wait)
	}
	if m.Hard && m.SiteURL != "" {
		d.URL = trimSlash(m.SiteURL) + m.UnlockPath
	}
	subject := "notify.lock.subject_paused"
	if m.Hard {
		subject = "notify.lock.subject_locked"
	}
	return lockTemplate.render(w.T(subject, "Org", oneLine(m.Org)), d)
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// DevicesRemovedEmail tells user that trusted devices (n of them, or all
// others when n is 0) no longer skip the second step: every change to how
// an account is protected is announced to its owner.
func DevicesRemovedEmail(w *locale.Words, org, user string, n int, when time.Time) Email {
	d := emailData{w: w, Org: org, User: user, When: w.DateTime(when), Number: max(n, 0)}
	return devicesRemovedTemplate.render(w.T("notify.devices_removed.subject", "Org", oneLine(org)), d)
}

// RecoveryUsedEmail tells user a recovery code signed them in (from ip,
// at when) and how many are left: a use they did not make means someone
// has their password and their paper.
func RecoveryUsedEmail(w *locale.Words, org, user, ip string, left int, when time.Time) Email {
	d := emailData{w: w, Org: org, User: user, IP: ip, When: w.DateTime(when), Number: left}
	return recoveryUsedTemplate.render(w.T("notify.recovery_used.subject", "Org", oneLine(org)), d)
}

// RecoveryNewEmail tells user a new set of recovery codes replaced theirs.
func RecoveryNewEmail(w *locale.Words, org, user string, when time.Time) Email {
	d := emailData{w: w, Org: org, User: user, When: w.DateTime(when)}
	return recoveryNewTemplate.render(w.T("notify.recovery_new.subject", "Org", oneLine(org)), d)
}
