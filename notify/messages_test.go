package notify_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy2fa/caddy2fa/notify"
)

// The GSM 03.38 basic character set, written out independently of the
// package's own table.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

func isGSM7(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune(gsm7, r) {
			return false
		}
	}
	return true
}

func TestCodeEmailSaysWhatTheCodeIsFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		purpose notify.Purpose
		want    string
	}{
		{"", "Enter it to sign in."},
		{notify.PurposeLogin, "Enter it to sign in."},
		{notify.PurposeEnroll, "Enter it to set up two-factor authentication."},
		{notify.PurposeAdmin, "Enter it to confirm a change to security settings."},
	} {
		m := notify.CodeEmail(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute, Purpose: tc.purpose})
		if m.Subject != "493817 is your Acme Corp verification code" {
			t.Errorf("subject %q", m.Subject)
		}
		for _, want := range []string{"493817", tc.want, "expires in 10 minutes", "Don't share this code", "someone else may know your password", "contact your administrator"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("purpose %q: text lacks %q:\n%s", tc.purpose, want, m.Text)
			}
			if !strings.Contains(m.HTML, want) && !strings.Contains(m.HTML, strings.ReplaceAll(want, "'", "&#39;")) {
				t.Errorf("purpose %q: HTML lacks %q:\n%s", tc.purpose, want, m.HTML)
			}
		}
		if m.To != "" {
			t.Errorf("To = %q, want it left to the caller", m.To)
		}
	}
}

func TestCodeEmailLifetimeWording(t *testing.T) {
	t.Parallel()
	for lifetime, want := range map[time.Duration]string{
		time.Minute:      "expires in 1 minute.",
		90 * time.Second: "expires in 1 minute.", // never promise more time than there is
		45 * time.Second: "expires in 45 seconds.",
		time.Hour:        "expires in 1 hour.",
		90 * time.Minute: "expires in 90 minutes.",
		48 * time.Hour:   "expires in 2 days.",
	} {
		if text := notify.CodeEmail(notify.CodeMessage{Code: "1", Lifetime: lifetime}).Text; !strings.Contains(text, want) {
			t.Errorf("lifetime %v: text lacks %q:\n%s", lifetime, want, text)
		}
	}
	if text := notify.CodeEmail(notify.CodeMessage{Code: "1"}).Text; strings.Contains(text, "expires") {
		t.Errorf("no lifetime, yet the text speaks of expiry:\n%s", text)
	}
}

func TestCodeSMSFitsOneGSM7Segment(t *testing.T) {
	t.Parallel()
	orgs := []string{"Acme Corp", "", "Société Générale ✓ 株式会社", "Ωmega", strings.Repeat("Long Name Industries ", 10), "Tab\tand\nnewline"}
	domains := []string{"", "app.example.com", strings.Repeat("sub.", 30) + "example.com", "Not A Host!"}
	for _, org := range orgs {
		for _, domain := range domains {
			sms := notify.CodeSMS(notify.CodeMessage{Org: org, Code: "493817", Lifetime: 10 * time.Minute, Domain: domain})
			if n := utf8.RuneCountInString(sms); n > 160 {
				t.Errorf("org %q domain %q: %d characters, more than one SMS:\n%s", org, domain, n, sms)
			}
			if !isGSM7(sms) {
				t.Errorf("org %q domain %q: not GSM-7 (would be sent as UCS-2):\n%s", org, domain, sms)
			}
			if !strings.Contains(sms, "493817") {
				t.Errorf("org %q domain %q: code missing:\n%s", org, domain, sms)
			}
		}
	}

	sms := notify.CodeSMS(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute})
	if want := "Acme Corp code: 493817. Expires in 10 min. Don't share it. Not you? Contact your admin."; sms != want {
		t.Errorf("CodeSMS = %q, want %q", sms, want)
	}
	if sms := notify.CodeSMS(notify.CodeMessage{Org: "Crêperie Françoise", Code: "493817"}); !strings.HasPrefix(sms, "Creperie Francoise code: 493817.") {
		t.Errorf("accents outside GSM-7 should be dropped, not the letters: %q", sms)
	}
}

func TestCodeSMSOriginBoundLineOnlyWithDomain(t *testing.T) {
	t.Parallel()
	with := notify.CodeSMS(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute, Domain: "App.Example.com"})
	if !strings.HasSuffix(with, "\n\n@app.example.com #493817") {
		t.Errorf("with a domain, the SMS must end with the WebOTP line:\n%s", with)
	}
	without := notify.CodeSMS(notify.CodeMessage{Org: "Acme Corp", Code: "493817"})
	if strings.Contains(without, "@") || strings.Contains(without, "#") {
		t.Errorf("without a domain there is no WebOTP line:\n%s", without)
	}
	// A domain that could smuggle text in is left out rather than sent.
	if sms := notify.CodeSMS(notify.CodeMessage{Code: "493817", Domain: "evil.example #1\nfake"}); strings.Contains(sms, "evil") {
		t.Errorf("invalid domain sent: %q", sms)
	}
}

func TestEmailTemplatesEscapeHTML(t *testing.T) {
	t.Parallel()
	const evil = `<script>alert("x")</script>`
	when := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	for name, m := range allEmails(evil, when) {
		if strings.Contains(m.HTML, "<script>") {
			t.Errorf("%s: HTML carries a raw <script>:\n%s", name, m.HTML)
		}
		if !strings.Contains(m.HTML, "&lt;script&gt;") {
			t.Errorf("%s: HTML lost the escaped value:\n%s", name, m.HTML)
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Errorf("%s: subject spans lines: %q", name, m.Subject)
		}
	}
	// A link that is not http(s) is neutralised, not followed.
	m := notify.SetupEmail(nil, "Acme", "alice", "javascript:alert(1)", nil, "", notify.SetupTime{})
	if strings.Contains(m.HTML, "javascript:") {
		t.Errorf("javascript: URL kept in the HTML:\n%s", m.HTML)
	}
}

func allEmails(s string, when time.Time) map[string]notify.Email {
	return map[string]notify.Email{
		"CodeEmail":          notify.CodeEmail(notify.CodeMessage{Org: s, Code: "493817", Lifetime: 10 * time.Minute}),
		"NewDeviceEmail":     notify.NewDeviceEmail(nil, s, s, s, s, when, 30),
		"MethodAddedEmail":   notify.MethodAddedEmail(nil, s, s, s, when),
		"SetupEmail":         notify.SetupEmail(nil, s, s, "https://app.example.com/.2fa/", []string{s}, s, notify.SetupTime{}),
		"PolicyChangedEmail": notify.PolicyChangedEmail(nil, s, s, s, when),
		"ResetEmail":         notify.ResetEmail(nil, s, s, s, when),
		"LockNotice":         notify.LockNotice(notify.LockMessage{Org: s, User: s, Wrong: 10, Wait: time.Minute}),
		"DevicesRemoved":     notify.DevicesRemovedEmail(nil, s, s, 1, when),
		"RecoveryUsed":       notify.RecoveryUsedEmail(nil, s, s, s, 2, when),
		"RecoveryNew":        notify.RecoveryNewEmail(nil, s, s, when),
	}
}

func TestNoticeEmailsSayWhatHappenedAndWhatToDo(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		m       notify.Email
		subject string
		text    []string
	}{
		{"new device", notify.NewDeviceEmail(nil, "Acme Corp", "alice", "Firefox on Linux", "203.0.113.7", when, 30),
			"New trusted device for your Acme Corp account",
			[]string{"Hi alice,", "A new device was trusted", "Firefox on Linux", "203.0.113.7", "27 November 2026, 06:15 UTC", "30 days", "If this wasn't you, contact your administrator"}},
		{"method added", notify.MethodAddedEmail(nil, "Acme Corp", "alice", "Authenticator app", when),
			"Two-factor method added to your Acme Corp account",
			[]string{"Authenticator app was added", "If this wasn't you, contact your administrator"}},
		{"setup", notify.SetupEmail(nil, "Acme Corp", "alice", "https://app.example.com/.2fa/", []string{"An authenticator app", "A code by email"}, "Bob", notify.SetupTime{}),
			"Acme Corp now requires two-factor authentication",
			[]string{"Bob turned on two-factor authentication for everyone at Acme Corp", "second step", "The next time you sign in, you'll be asked to set it up", "  - An authenticator app\n  - A code by email", "https://app.example.com/.2fa/"}},
		{"setup, nothing optional", notify.SetupEmail(nil, "", "", "", nil, "", notify.SetupTime{}),
			"Two-factor authentication is now required",
			[]string{"Hello,", "Your administrator turned on"}},
		{"policy changed", notify.PolicyChangedEmail(nil, "Acme Corp", "bob", "SMS codes turned off.", when),
			"Acme Corp security settings were changed",
			[]string{"bob changed the two-factor authentication settings for Acme Corp", "SMS codes turned off.", "because you are an administrator"}},
		{"code entry paused", notify.LockNotice(notify.LockMessage{Org: "Acme Corp", User: "alice", Wrong: 20, Wait: 5 * time.Minute}),
			"Code entry paused for your Acme Corp account",
			[]string{"Hi alice,", "20 wrong codes in a row", "paused for 5 minutes", "someone knows your password: change it now"}},
		{"code entry locked", notify.LockNotice(notify.LockMessage{Org: "Acme Corp", Wrong: 50, Hard: true, SiteURL: "https://app.example.com/", UnlockPath: "/.2fa/unlock"}),
			"Code entry locked for your Acme Corp account",
			[]string{"50 wrong codes in a row", "locked until you unlock it", "https://app.example.com/.2fa/unlock"}},
		{"devices removed", notify.DevicesRemovedEmail(nil, "Acme Corp", "alice", 0, when),
			"Trusted devices removed from your Acme Corp account",
			[]string{"Every other device of your Acme Corp account will be asked for the second step again", "contact your administrator"}},
		{"recovery code used", notify.RecoveryUsedEmail(nil, "Acme Corp", "alice", "203.0.113.7", 3, when),
			"A recovery code was used for your Acme Corp account",
			[]string{"A recovery code was used to sign in", "from 203.0.113.7", "3 recovery codes left", "trusted device will be asked", "contact your administrator"}},
		{"new recovery codes", notify.RecoveryNewEmail(nil, "Acme Corp", "alice", when),
			"New recovery codes for your Acme Corp account",
			[]string{"A new set of recovery codes was made", "no longer work", "contact your administrator"}},
		{"reset", notify.ResetEmail(nil, "Acme Corp", "alice", "Bob", when),
			"Your Acme Corp two-factor authentication was reset",
			[]string{"Bob reset two-factor authentication", "set up two-factor authentication again", "contact your administrator"}},
	} {
		if tc.m.Subject != tc.subject {
			t.Errorf("%s: subject %q, want %q", tc.name, tc.m.Subject, tc.subject)
		}
		for _, want := range tc.text {
			if !strings.Contains(tc.m.Text, want) {
				t.Errorf("%s: text lacks %q:\n%s", tc.name, want, tc.m.Text)
			}
		}
		if !strings.HasPrefix(tc.m.HTML, "<!DOCTYPE html>") || !strings.Contains(tc.m.HTML, `<html lang="en">`) {
			t.Errorf("%s: HTML is not a complete document:\n%s", tc.name, tc.m.HTML)
		}
	}
}
