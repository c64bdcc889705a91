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

var lockTemplate = newEmailTemplate(`
{{template "greeting" .}}

Someone entered {{.Count}} in a row for {{if .Org}}your {{.Org}} account{{else}}your account{{end}}'s second step.
{{- if .Hard}} Code entry is now locked until you unlock it with a code we email you, or your administrator does.{{with .URL}}

To unlock it:
{{.}}{{end}}{{else}} Code entry is paused for {{.Wait}}.{{end}}

If this was you, there is nothing else to do.

If it wasn't you, someone knows your password: change it now and tell your administrator.

{{template "footer" .}}
`, `{{define "content" -}}
`+greeting+`
<p `+pStyle+`>Someone entered {{.Count}} in a row for {{if .Org}}your {{.Org}} account{{else}}your account{{end}}'s second step.
{{- if .Hard}} Code entry is now <strong>locked</strong> until you unlock it with a code we email you, or your administrator does.{{else}} Code entry is paused for {{.Wait}}.{{end}}</p>
{{- if .URL}}
<p `+pStyle+`><a href="{{.URL}}" style="display:inline-block;padding:10px 16px;background-color:#0969da;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;">Unlock code entry</a></p>
{{- end}}
<p `+pStyle+`>If this was you, there is nothing else to do.</p>
<p style="margin:0;">If it wasn't you, <strong>someone knows your password</strong>: change it now and tell your administrator.</p>
{{- end}}`)

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

var devicesRemovedTemplate = newEmailTemplate(`
{{template "greeting" .}}

{{.Count}} of {{if .Org}}your {{.Org}} account{{else}}your account{{end}} will be asked for the second step again, from {{.When}}.

If this was you, there is nothing to do.

If this wasn't you, contact your administrator right away: someone may be able to sign in as you.

{{template "footer" .}}
`, `{{define "content" -}}
`+greeting+`
<p `+pStyle+`>{{.Count}} of {{if .Org}}your {{.Org}} account{{else}}your account{{end}} will be asked for the second step again, from {{.When}}.</p>
<p `+pStyle+`>If this was you, there is nothing to do.</p>
<p style="margin:0;">If this wasn't you, <strong>contact your administrator right away</strong>: someone may be able to sign in as you.</p>
{{- end}}`)
