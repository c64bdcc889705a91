package notify

import "time"

// LockMessage is what a code-entry hold notice says.
type LockMessage struct {
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
	d := emailData{Org: m.Org, User: m.User, Count: plural(m.Wrong, "wrong code"), Hard: m.Hard}
	if !m.Hard {
		d.Wait = longDuration(m.Wait)
	}
	if m.Hard && m.SiteURL != "" {
		d.URL = trimSlash(m.SiteURL) + m.UnlockPath
	}
	subject := "Code entry paused for " + yourAccount(m.Org)
	if m.Hard {
		subject = "Code entry locked for " + yourAccount(m.Org)
	}
	return lockTemplate.render(subject, d)
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
func DevicesRemovedEmail(org, user string, n int, when time.Time) Email {
	d := emailData{Org: org, User: user, When: formatWhen(when), Count: "Every other device"}
	if n > 0 {
		d.Count = plural(n, "trusted device")
	}
	return devicesRemovedTemplate.render("Trusted devices removed from "+yourAccount(org), d)
}

// RecoveryUsedEmail tells user a recovery code signed them in (from ip,
// at when) and how many are left: a use they did not make means someone
// has their password and their paper.
func RecoveryUsedEmail(org, user, ip string, left int, when time.Time) Email {
	d := emailData{Org: org, User: user, IP: ip, When: formatWhen(when), Count: plural(left, "recovery code")}
	return recoveryUsedTemplate.render("A recovery code was used for "+yourAccount(org), d)
}

// RecoveryNewEmail tells user a new set of recovery codes replaced theirs.
func RecoveryNewEmail(org, user string, when time.Time) Email {
	d := emailData{Org: org, User: user, When: formatWhen(when)}
	return recoveryNewTemplate.render("New recovery codes for "+yourAccount(org), d)
}
