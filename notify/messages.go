package notify

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy2fa/caddy2fa/locale"
)

// Purpose says what a code is for, in words that finish "Enter it to ...".
// Each of the constants has its own words in every language; another
// purpose is written as given.
type Purpose string

// Purposes of codes.
const (
	PurposeLogin  Purpose = "sign in"
	PurposeEnroll Purpose = "set up two-factor authentication"
	PurposeAdmin  Purpose = "confirm a change to security settings"
	PurposeUnlock Purpose = "unlock code entry for your account"
)

var purposeIDs = map[Purpose]string{
	PurposeLogin: "notify.purpose.login", PurposeEnroll: "notify.purpose.enroll",
	PurposeAdmin: "notify.purpose.admin", PurposeUnlock: "notify.purpose.unlock",
}

func (p Purpose) words(w *locale.Words) string {
	if strings.TrimSpace(string(p)) == "" {
		p = PurposeLogin
	}
	if id, ok := purposeIDs[p]; ok {
		return w.T(id)
	}
	return string(p)
}

// CodeMessage is what a one-time code message says.
type CodeMessage struct {
	// Words are the language to write in; nil: English.
	Words    *locale.Words
	Org      string        // organisation name people know, e.g. "Acme Corp"; optional
	Code     string        // the one-time code
	Lifetime time.Duration // how long the code works; 0 leaves the expiry out
	Purpose  Purpose       // default PurposeLogin
	// Domain, when set, is the host of the site the code is for (e.g.
	// "app.example.com"): SMS then ends with the origin-bound line
	// "@app.example.com #123456", so browsers can fill the code in (WebOTP)
	// and only on that site.
	Domain string
}

// CodeEmail is the email carrying a one-time code. Its subject starts with
// the code, so people can read it from the notification.
func CodeEmail(m CodeMessage) Email {
	w := m.Words
	d := emailData{w: w, Org: m.Org, Code: m.Code, Purpose: m.Purpose.words(w)}
	if m.Lifetime > 0 {
		d.Lifetime = w.Duration(m.Lifetime)
	}
	return codeTemplate.render(w.T("notify.code.subject", "Code", m.Code, "Org", oneLine(m.Org)), d)
}

// NewDeviceEmail tells user that a device (deviceSummary, e.g. "Firefox on
// Linux") from ip was trusted at when, so it skips the second step for days.
func NewDeviceEmail(w *locale.Words, org, user, deviceSummary, ip string, when time.Time, days int) Email {
	d := emailData{w: w, Org: org, User: user, Device: deviceSummary, IP: ip, When: w.DateTime(when)}
	if days > 0 {
		d.Days = w.Duration(time.Duration(days) * 24 * time.Hour)
	}
	d.Labels = padLabels(w, "notify.new_device.device", "notify.new_device.ip", "notify.new_device.time")
	return newDeviceTemplate.render(w.T("notify.new_device.subject", "Org", oneLine(org)), d)
}

// padLabels are the labels of a plain-text table, each with its colon and
// padded to line the values up.
func padLabels(w *locale.Words, ids ...string) []string {
	labels := make([]string, len(ids))
	width := 0
	for i, id := range ids {
		labels[i] = w.T("notify.label", "Label", w.T(id))
		width = max(width, utf8.RuneCountInString(labels[i]))
	}
	for i, l := range labels {
		labels[i] = l + strings.Repeat(" ", width+1-utf8.RuneCountInString(l))
	}
	return labels
}

// MethodAddedEmail tells user that a two-factor method (methodName, e.g.
// "Authenticator app") was added to their account.
func MethodAddedEmail(w *locale.Words, org, user, methodName string, when time.Time) Email {
	d := emailData{w: w, Org: org, User: user, Method: methodName, When: w.DateTime(when)}
	return methodAddedTemplate.render(w.T("notify.method_added.subject", "Org", oneLine(org)), d)
}

// SetupEmail tells user that two-factor authentication is now required:
// what it is, the methods they can choose from, and that they will set it
// up at their next sign-in (or now, at url). by is the administrator who
// turned it on; optional. setup is the time they are given.
func SetupEmail(w *locale.Words, org, user, url string, methods []string, by string, setup SetupTime) Email {
	d := emailData{w: w, Org: org, User: user, URL: url, Methods: methods, By: by, SetupDays: setup.Days}
	if !setup.Deadline.IsZero() {
		d.SetupBy = lastDay(w, setup.Deadline)
	}
	return setupTemplate.render(w.T("notify.setup.subject", "Org", oneLine(org)), d)
}

// PolicyChangedEmail tells the other administrators that admin changed the
// two-factor settings, with a summary of the change.
func PolicyChangedEmail(w *locale.Words, org, admin, summary string, when time.Time) Email {
	d := emailData{w: w, Org: org, Admin: admin, Summary: summary, When: w.DateTime(when)}
	return policyChangedTemplate.render(w.T("notify.policy_changed.subject", "Org", oneLine(org)), d)
}

// ResetEmail tells user that an administrator (by; optional) reset their
// two-factor authentication, so they will set it up again at next sign-in.
func ResetEmail(w *locale.Words, org, user, by string, when time.Time) Email {
	d := emailData{w: w, Org: org, User: user, By: by, When: w.DateTime(when)}
	return resetTemplate.render(w.T("notify.reset.subject", "Org", oneLine(org)), d)
}
