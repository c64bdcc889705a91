package notify

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// The messages' words live in templates/: NAME.txt is a message's plain
// text, NAME.html its HTML content within layout.html. html/template
// escapes every value for its HTML context.

//go:embed templates/*
var templateFiles embed.FS

var htmlLayout = htmltemplate.Must(htmltemplate.New("layout").ParseFS(templateFiles, "templates/layout.html")).Lookup("layout.html")

var (
	codeTemplate           = newEmailTemplate("code")
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
