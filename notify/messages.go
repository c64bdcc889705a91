package notify

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Purpose says what a code is for, in words that finish "Enter it to ...".
type Purpose string

// Purposes of codes.
const (
	PurposeLogin  Purpose = "sign in"
	PurposeEnroll Purpose = "set up two-factor authentication"
	PurposeAdmin  Purpose = "confirm a change to security settings"
	PurposeUnlock Purpose = "unlock code entry for your account"
)

// CodeMessage is what a one-time code message says.
type CodeMessage struct {
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
	d := emailData{Org: m.Org, Code: m.Code, Purpose: string(purposeOrLogin(m.Purpose))}
	if m.Lifetime > 0 {
		d.Lifetime = longDuration(m.Lifetime)
	}
	subject := m.Code + " is your verification code"
	if org := oneLine(m.Org); org != "" {
		subject = m.Code + " is your " + org + " verification code"
	}
	return codeTemplate.render(subject, d)
}

// smsMaxChars is one SMS segment of GSM-7 characters; longer messages are
// split, cost more and can arrive out of order.
const smsMaxChars = 160

// CodeSMS is the text message carrying a one-time code: GSM-7 characters
// only and at most one segment. The organisation name is shortened, and
// the advice left out, when they would not fit.
func CodeSMS(m CodeMessage) string {
	code := gsm7Only(m.Code)
	var expiry string
	if m.Lifetime > 0 {
		expiry = " Expires in " + shortDuration(m.Lifetime) + "."
	}
	var originLine string
	if domain := strings.ToLower(strings.TrimSpace(m.Domain)); hostPattern.MatchString(domain) {
		originLine = "\n\n@" + domain + " #" + code
	}
	org := []rune(oneLine(gsm7Only(m.Org)))
	if len(org) > maxSMSOrgChars {
		org = org[:maxSMSOrgChars]
	}
	// Most complete first: the organisation's name (shortened if need be)
	// and all the advice; then less advice; then no name.
	for _, withOrg := range []bool{true, false} {
		for _, advice := range []string{" Don't share it. Not you? Contact your admin.", " Don't share it.", ""} {
			rest := code + "." + expiry + advice + originLine
			room := smsMaxChars - utf8.RuneCountInString(rest)
			if withOrg {
				if name := fitName(org, room-len(" code: ")); name != "" {
					return name + " code: " + rest
				}
			} else if room >= len("Your code: ") {
				return "Your code: " + rest
			}
		}
	}
	// Only a domain or code far too long for any SMS gets here.
	return "Your code: " + code + "." + expiry
}

const (
	// maxSMSOrgChars keeps the organisation's name from crowding out the rest.
	maxSMSOrgChars = 30
	// minSMSOrgChars: a name cut shorter than this is no longer recognisable.
	minSMSOrgChars = 8
)

// fitName returns org cut to room characters, or "" when it does not fit
// recognisably.
func fitName(org []rune, room int) string {
	if len(org) == 0 || room < minSMSOrgChars {
		return ""
	}
	if len(org) > room {
		org = org[:room]
	}
	return strings.TrimSpace(string(org))
}

// hostPattern accepts the ASCII host names WebOTP's origin-bound line takes
// (internationalised names in their xn-- form).
var hostPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// NewDeviceEmail tells user that a device (deviceSummary, e.g. "Firefox on
// Linux") from ip was trusted at when, so it skips the second step for days.
func NewDeviceEmail(org, user, deviceSummary, ip string, when time.Time, days int) Email {
	d := emailData{Org: org, User: user, Device: deviceSummary, IP: ip, When: formatWhen(when)}
	if days > 0 {
		d.Days = plural(days, "day")
	}
	return newDeviceTemplate.render("New trusted device for "+yourAccount(org), d)
}

// MethodAddedEmail tells user that a two-factor method (methodName, e.g.
// "Authenticator app") was added to their account.
func MethodAddedEmail(org, user, methodName string, when time.Time) Email {
	d := emailData{Org: org, User: user, Method: methodName, When: formatWhen(when)}
	return methodAddedTemplate.render("Two-factor method added to "+yourAccount(org), d)
}

// SetupEmail tells user that two-factor authentication is now required:
// what it is, the methods they can choose from, and that they will set it
// up at their next sign-in (or now, at url). by is the administrator who
// turned it on; optional.
func SetupEmail(org, user, url string, methods []string, by string) Email {
	d := emailData{Org: org, User: user, URL: url, Methods: methods, By: by}
	subject := "Two-factor authentication is now required"
	if o := oneLine(org); o != "" {
		subject = o + " now requires two-factor authentication"
	}
	return setupTemplate.render(subject, d)
}

// PolicyChangedEmail tells the other administrators that admin changed the
// two-factor settings, with a summary of the change.
func PolicyChangedEmail(org, admin, summary string, when time.Time) Email {
	d := emailData{Org: org, Admin: admin, Summary: summary, When: formatWhen(when)}
	subject := "Security settings were changed"
	if o := oneLine(org); o != "" {
		subject = o + " security settings were changed"
	}
	return policyChangedTemplate.render(subject, d)
}

// ResetEmail tells user that an administrator (by; optional) reset their
// two-factor authentication, so they will set it up again at next sign-in.
func ResetEmail(org, user, by string, when time.Time) Email {
	d := emailData{Org: org, User: user, By: by, When: formatWhen(when)}
	subject := "Your two-factor authentication was reset"
	if o := oneLine(org); o != "" {
		subject = "Your " + o + " two-factor authentication was reset"
	}
	return resetTemplate.render(subject, d)
}

func purposeOrLogin(p Purpose) Purpose {
	if strings.TrimSpace(string(p)) == "" {
		return PurposeLogin
	}
	return p
}

func yourAccount(org string) string {
	if o := oneLine(org); o != "" {
		return "your " + o + " account"
	}
	return "your account"
}

// formatWhen writes a time every reader can place: UTC, with the zone.
// A zero time means now.
func formatWhen(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Format("Mon, 2 Jan 2006 15:04 MST")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// longDuration: "10 minutes", "1 hour", "45 seconds". Rounded down, so a
// message never promises more time than the code has.
func longDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return plural(max(1, int(d/time.Second)), "second")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	default:
		return plural(int(d/time.Minute), "minute")
	}
}

// shortDuration is longDuration for SMS: "10 min", "45 sec", "2 hours".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(1, int(d/time.Second))) + " sec"
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	default:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
}

// gsm7Basic is the GSM 03.38 basic character set (without the escape
// table, whose characters take two septets).
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Only keeps s to the GSM-7 basic set, since one other character would
// switch the whole SMS to UCS-2 and halve its length. Accented letters
// outside the set lose their accent (ï → i); other characters are dropped.
func gsm7Only(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(gsm7Basic, r) {
			return r
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		if base, _ := utf8.DecodeRuneInString(norm.NFD.String(string(r))); base != r && strings.ContainsRune(gsm7Basic, base) && base != '\n' && base != '\r' {
			return base
		}
		return -1
	}, s)
}
