package notify

import (
	"bytes"
	htmltemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
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

// emailData is what every email template may use.
type emailData struct {
	Subject  string
	Org      string
	User     string
	Code     string
	Purpose  string
	Lifetime string
	Device   string
	IP       string
	When     string
	Days     string
	Method   string
	URL      string
	Methods  []string
	By       string
	Admin    string
	Summary  string
	Count    string
	Wait     string
	Hard     bool
}

// emailTemplate pairs a plain-text body with its HTML twin; html/template
// escapes every value for its HTML context.
type emailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func newEmailTemplate(text, htmlContent string) emailTemplate {
	layout := htmltemplate.Must(htmltemplate.New("layout").Parse(htmlLayout))
	return emailTemplate{
		text: texttemplate.Must(texttemplate.New("text").Parse(textCommon + text)),
		html: htmltemplate.Must(htmltemplate.Must(layout.Clone()).Parse(htmlContent)),
	}
}

func (t emailTemplate) render(subject string, d emailData) Email {
	d.Subject = oneLine(subject)
	var text, html bytes.Buffer
	// The templates are fixed and the data are strings: execution can only
	// fail on a template bug, which the tests render every message to find.
	if err := t.text.Execute(&text, d); err != nil {
		panic("notify: text template: " + err.Error())
	}
	if err := t.html.ExecuteTemplate(&html, "layout", d); err != nil {
		panic("notify: HTML template: " + err.Error())
	}
	return Email{Subject: d.Subject, Text: strings.TrimSpace(text.String()) + "\n", HTML: html.String()}
}

// The footer starts with the signature separator "-- " (trailing space
// included), which mail clients recognise and dim.
const textCommon = `{{define "greeting"}}{{if .User}}Hi {{.User}},{{else}}Hello,{{end}}{{end}}` +
	`{{define "footer"}}-- ` + "\n" + `This is an automatic security message{{if .Org}} from {{.Org}}{{end}}.{{end}}`

const htmlLayout = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:24px 12px;background-color:#f5f6f8;color:#1f2328;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;">
<div role="article" aria-label="{{.Subject}}" style="max-width:560px;margin:0 auto;padding:24px;background-color:#ffffff;border:1px solid #d8dee4;border-radius:8px;">
{{template "content" .}}
<p style="margin:24px 0 0;padding-top:16px;border-top:1px solid #d8dee4;color:#59636e;font-size:13px;">This is an automatic security message{{if .Org}} from {{.Org}}{{end}}.</p>
</div>
</body>
</html>
`

const (
	pStyle   = `style="margin:0 0 16px;"`
	greeting = `<p style="margin:0 0 16px;">{{if .User}}Hi {{.User}},{{else}}Hello,{{end}}</p>`
)

var codeTemplate = newEmailTemplate(`
Your {{with .Org}}{{.}} {{end}}verification code is:

    {{.Code}}

Enter it to {{.Purpose}}.{{with .Lifetime}} It expires in {{.}}.{{end}}

Don't share this code with anyone.{{with .Org}} No one from {{.}} will ever ask you for it.{{end}}

If you didn't try to {{.Purpose}}, someone else may know your password. Change your password and contact your administrator.

{{template "footer" .}}
`, `{{define "content" -}}
<p `+pStyle+`>Your {{with .Org}}{{.}} {{end}}verification code is:</p>
<p style="margin:0 0 16px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:32px;font-weight:600;letter-spacing:4px;">{{.Code}}</p>
<p `+pStyle+`>Enter it to {{.Purpose}}.{{with .Lifetime}} It expires in {{.}}.{{end}}</p>
<p `+pStyle+`><strong>Don't share this code with anyone.</strong>{{with .Org}} No one from {{.}} will ever ask you for it.{{end}}</p>
<p style="margin:0;">If you didn't try to {{.Purpose}}, someone else may know your password. Change your password and contact your administrator.</p>
{{- end}}`)

var newDeviceTemplate = newEmailTemplate(`
{{template "greeting" .}}

A new device was trusted for {{if .Org}}your {{.Org}} account{{else}}your account{{end}}.{{with .Days}} It won't be asked for a second step for {{.}}.{{end}}

  Device:     {{.Device}}
  IP address: {{.IP}}
  Time:       {{.When}}

If this was you, there is nothing to do.

If this wasn't you, contact your administrator right away: someone may have your password and your second step.

{{template "footer" .}}
`, `{{define "content" -}}
`+greeting+`
<p `+pStyle+`>A new device was trusted for {{if .Org}}your {{.Org}} account{{else}}your account{{end}}.{{with .Days}} It won't be asked for a second step for {{.}}.{{end}}</p>
<table role="presentation" style="margin:0 0 16px;border-collapse:collapse;">
<tr><th scope="row" style="padding:2px 16px 2px 0;text-align:left;font-weight:600;">Device</th><td style="padding:2px 0;">{{.Device}}</td></tr>
<tr><th scope="row" style="padding:2px 16px 2px 0;text-align:left;font-weight:600;">IP address</th><td style="padding:2px 0;">{{.IP}}</td></tr>
<tr><th scope="row" style="padding:2px 16px 2px 0;text-align:left;font-weight:600;">Time</th><td style="padding:2px 0;">{{.When}}</td></tr>
</table>
<p `+pStyle+`>If this was you, there is nothing to do.</p>
<p style="margin:0;">If this wasn't you, <strong>contact your administrator right away</strong>: someone may have your password and your second step.</p>
{{- end}}`)

var methodAddedTemplate = newEmailTemplate(`
{{template "greeting" .}}

{{.Method}} was added as a two-factor authentication method for {{if .Org}}your {{.Org}} account{{else}}your account{{end}} on {{.When}}.

If this was you, there is nothing to do.

If this wasn't you, contact your administrator right away: someone may be able to sign in as you.

{{template "footer" .}}
`, `{{define "content" -}}
`+greeting+`
<p `+pStyle+`><strong>{{.Method}}</strong> was added as a two-factor authentication method for {{if .Org}}your {{.Org}} account{{else}}your account{{end}} on {{.When}}.</p>
<p `+pStyle+`>If this was you, there is nothing to do.</p>
<p style="margin:0;">If this wasn't you, <strong>contact your administrator right away</strong>: someone may be able to sign in as you.</p>
{{- end}}`)

var setupTemplate = newEmailTemplate(`
{{template "greeting" .}}

{{with .By}}{{.}}{{else}}Your administrator{{end}} turned on two-factor authentication for everyone{{with .Org}} at {{.}}{{end}}.

What it is: when you sign in, you'll confirm it's you with a second step as well as your password. A stolen password alone is then not enough to get into your account.

The next time you sign in, you'll be asked to set it up. It takes a minute or two.
{{- if .Methods}}

You can choose:{{range .Methods}}
  - {{.}}{{end}}{{end}}
{{- with .URL}}

To set it up now, go to:
{{.}}{{end}}

{{template "footer" .}}
`, `{{define "content" -}}
`+greeting+`
<p `+pStyle+`>{{with .By}}{{.}}{{else}}Your administrator{{end}} turned on two-factor authentication for everyone{{with .Org}} at {{.}}{{end}}.</p>
<p `+pStyle+`><strong>What it is:</strong> when you sign in, you'll confirm it's you with a second step as well as your password. A stolen password alone is then not enough to get into your account.</p>
<p `+pStyle+`>The next time you sign in, you'll be asked to set it up. It takes a minute or two.</p>
{{- if .Methods}}
<p style="margin:0 0 8px;">You can choose:</p>
<ul style="margin:0 0 16px;padding-left:24px;">
{{- range .Methods}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- with .URL}}
<p style="margin:0;"><a href="{{.}}" style="display:inline-block;padding:10px 16px;background-color:#0969da;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;">Set up two-factor authentication</a></p>
{{- end}}
{{- end}}`)

var policyChangedTemplate = newEmailTemplate(`
Hello,

{{with .Admin}}{{.}}{{else}}An administrator{{end}} changed the two-factor authentication settings{{with .Org}} for {{.}}{{end}} on {{.When}}:

{{.Summary}}

If you expected this change, there is nothing to do. If not, review the settings and check with {{with .Admin}}{{.}}{{else}}the other administrators{{end}}.

You're receiving this because you are an administrator.

{{template "footer" .}}
`, `{{define "content" -}}
<p `+pStyle+`>Hello,</p>
<p `+pStyle+`>{{with .Admin}}<strong>{{.}}</strong>{{else}}An administrator{{end}} changed the two-factor authentication settings{{with .Org}} for {{.}}{{end}} on {{.When}}:</p>
<p style="margin:0 0 16px;padding:12px 16px;background-color:#f5f6f8;border-left:4px solid #d8dee4;white-space:pre-wrap;">{{.Summary}}</p>
<p `+pStyle+`>If you expected this change, there is nothing to do. If not, review the settings and check with {{with .Admin}}{{.}}{{else}}the other administrators{{end}}.</p>
<p style="margin:0;color:#59636e;">You're receiving this because you are an administrator.</p>
{{- end}}`)

var resetTemplate = newEmailTemplate(`
{{template "greeting" .}}

{{with .By}}{{.}}{{else}}An administrator{{end}} reset two-factor authentication for {{if .Org}}your {{.Org}} account{{else}}your account{{end}} on {{.When}}. Your previous methods and trusted devices no longer work.

The next time you sign in, you'll be asked to set up two-factor authentication again.

If you didn't ask for this, contact your administrator.

{{template "footer" .}}
`, `{{define "content" -}}
`+greeting+`
<p `+pStyle+`>{{with .By}}{{.}}{{else}}An administrator{{end}} reset two-factor authentication for {{if .Org}}your {{.Org}} account{{else}}your account{{end}} on {{.When}}. Your previous methods and trusted devices no longer work.</p>
<p `+pStyle+`>The next time you sign in, you'll be asked to set up two-factor authentication again.</p>
<p style="margin:0;">If you didn't ask for this, contact your administrator.</p>
{{- end}}`)
