package notify

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/caddy2fa/caddy2fa/locale"
)

// The messages' layout lives in templates/: NAME.txt is a message's plain
// text, NAME.html its HTML content within layout.html. Their words come
// from the message catalog (locale/locales/notify.*.toml) through the
// data's T, N, H and HN, so each template is parsed once and speaks
// every language of every catalog. html/template escapes every value
// for its HTML context; H and HN escape their arguments and trust the
// message.

//go:embed templates/*
var templateFiles embed.FS

var htmlLayout = htmltemplate.Must(htmltemplate.New("layout").ParseFS(templateFiles, "templates/layout.html")).Lookup("layout.html")

var (
	codeTemplate           = newEmailTemplate("code")
	reminderTemplate       = newEmailTemplate("reminder")
	newDeviceTemplate      = newEmailTemplate("new_device")
	methodAddedTemplate    = newEmailTemplate("method_added")
	setupTemplate          = newEmailTemplate("setup")
	policyChangedTemplate  = newEmailTemplate("policy_changed")
	resetTemplate          = newEmailTemplate("reset")
	lockTemplate           = newEmailTemplate("lock")
	devicesRemovedTemplate = newEmailTemplate("devices_removed")
	recoveryUsedTemplate   = newEmailTemplate("recovery_used")
	recoveryNewTemplate    = newEmailTemplate("recovery_new")
)

// emailData is what every email template may use.
type emailData struct {
	w        *locale.Words
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
	Number   int // the count of a plural message
	Wait     string
	Hard     bool
	Labels   []string // the new-device table's, padded for plain text
	// SetupBy and SetupDays are the time users are given to set up.
	SetupBy   string
	SetupDays int
	Due       bool // a reminder that setup is now required
}

// T is the message id in the email's language.
func (d emailData) T(id string, args ...any) string { return d.w.T(id, args...) }

// N is the plural message id for count.
func (d emailData) N(id string, count int, args ...any) string { return d.w.N(id, count, args...) }

// H is a message with markup, its arguments escaped.
func (d emailData) H(id string, args ...any) htmltemplate.HTML { return d.w.H(id, args...) }

// HN is H for a plural message.
func (d emailData) HN(id string, count int, args ...any) htmltemplate.HTML {
	for i := 1; i < len(args); i += 2 {
		if s, ok := args[i].(string); ok {
			args[i] = htmltemplate.HTMLEscapeString(s)
		}
	}
	return htmltemplate.HTML(d.w.N(id, count, args...))
}

// Lang is the language's tag, for <html lang>.
func (d emailData) Lang() string { return d.w.Lang() }

// RTL: the language is written right to left, so the layout turns round.
func (d emailData) RTL() bool { return d.w.Dir() == "rtl" }

// emailTemplate pairs a plain-text body with its HTML twin.
type emailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// newEmailTemplate reads the message name from the templates folder:
// name.txt in plain text, name.html as the content of the HTML layout.
func newEmailTemplate(name string) emailTemplate {
	return emailTemplate{
		text: texttemplate.Must(texttemplate.New("text").ParseFS(templateFiles, "templates/_common.txt", "templates/"+name+".txt")).Lookup(name + ".txt"),
		html: htmltemplate.Must(htmltemplate.Must(htmlLayout.Clone()).ParseFS(templateFiles, "templates/"+name+".html")),
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
	if err := t.html.Execute(&html, d); err != nil {
		panic("notify: HTML template: " + err.Error())
	}
	return Email{Subject: d.Subject, Text: strings.TrimSpace(text.String()) + "\n", HTML: html.String()}
}
