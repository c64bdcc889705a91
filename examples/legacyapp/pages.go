package legacyapp

import "html/template"

// pageData is what every page template receives.
type pageData struct {
	OrgName string
	Title   string
	// User is nil when nobody is logged in.
	User *User

	// Login form.
	Next     string
	Username string
	Error    string

	Quarters          []quarterSummary
	Regions           []regionFigures
	Settings          []setting
	CanManageSettings bool
}

type quarterSummary struct {
	Quarter    string
	Revenue    string
	Expenses   string
	DetailPath string // empty when there is no detail page
}

type regionFigures struct {
	Region   string
	Revenue  string
	Expenses string
	Margin   string
}

type setting struct {
	Name  string
	Value string
}

// The figures are invented; they only need to look like something a legacy
// back office would guard.
var quarterSummaries = []quarterSummary{
	{Quarter: "Q1", Revenue: "$1,204,000", Expenses: "$987,000"},
	{Quarter: "Q2", Revenue: "$1,318,500", Expenses: "$1,002,300"},
	{Quarter: "Q3", Revenue: "$1,472,900", Expenses: "$1,088,400", DetailPath: "/reports/q3"},
	{Quarter: "Q4", Revenue: "not yet closed", Expenses: "not yet closed"},
}

var q3Regions = []regionFigures{
	{Region: "North", Revenue: "$512,300", Expenses: "$371,900", Margin: "27.4%"},
	{Region: "South", Revenue: "$398,100", Expenses: "$301,200", Margin: "24.3%"},
	{Region: "East", Revenue: "$336,700", Expenses: "$240,800", Margin: "28.5%"},
	{Region: "West", Revenue: "$225,800", Expenses: "$174,500", Margin: "22.7%"},
}

var generalSettings = []setting{
	{Name: "Fiscal year start", Value: "January"},
	{Name: "Default currency", Value: "USD"},
	{Name: "Invoice prefix", Value: "ACME-"},
	{Name: "Data retention", Value: "7 years"},
}

const layoutTemplate = `{{define "layout"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{.OrgName}}</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<header class="topbar">
<nav aria-label="Main">
<a class="brand" href="/">{{.OrgName}}</a>
{{- if .User}}
<ul class="links">
<li><a href="/reports">Reports</a></li>
<li><a href="/settings">Settings</a></li>
<li><a href="/account">Account</a></li>
</ul>
<form class="logout" method="post" action="/logout"><button type="submit">Log out</button></form>
{{- end}}
</nav>
</header>
<main>
{{- if .User}}
<p id="signed-in-as">Signed in as {{.User.ID}}</p>
{{- end}}
{{template "content" .}}
</main>
</body>
</html>
{{end}}`

// pageTemplates holds each page's "content" block; they all share the layout.
var pageTemplates = map[string]string{
	"login": `{{define "content"}}
<h1>Sign in to {{.OrgName}}</h1>
{{- if .Error}}
<p class="error" role="alert" id="login-error">{{.Error}}</p>
{{- end}}
<form class="card" method="post" action="/login">
<input type="hidden" name="next" value="{{.Next}}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="{{.Username}}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label class="check"><input type="checkbox" name="remember" value="1"> Keep me signed in</label>
<button type="submit">Sign in</button>
</form>
{{end}}`,

	"home": `{{define "content"}}
<h1>Welcome, {{.User.Name}}</h1>
<ul class="cards">
<li><a href="/reports">Reports</a> — quarterly figures</li>
<li><a href="/settings">Settings</a> — general settings</li>
<li><a href="/account">Account</a> — your profile</li>
</ul>
{{end}}`,

	"reports": `{{define "content"}}
<h1>Reports</h1>
<div class="scroll">
<table>
<caption>Quarterly results</caption>
<thead><tr><th scope="col">Quarter</th><th scope="col">Revenue</th><th scope="col">Expenses</th></tr></thead>
<tbody>
{{- range .Quarters}}
<tr><th scope="row">{{if .DetailPath}}<a href="{{.DetailPath}}">{{.Quarter}}</a>{{else}}{{.Quarter}}{{end}}</th><td>{{.Revenue}}</td><td>{{.Expenses}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
{{end}}`,

	"report-q3": `{{define "content"}}
<h1>Q3 report</h1>
<p><a href="/reports">Back to all reports</a></p>
<div class="scroll">
<table>
<caption>Q3 results by region</caption>
<thead><tr><th scope="col">Region</th><th scope="col">Revenue</th><th scope="col">Expenses</th><th scope="col">Margin</th></tr></thead>
<tbody>
{{- range .Regions}}
<tr><th scope="row">{{.Region}}</th><td>{{.Revenue}}</td><td>{{.Expenses}}</td><td>{{.Margin}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
{{end}}`,

	"settings": `{{define "content"}}
<h1>Settings</h1>
{{- if .CanManageSettings}}
<p id="settings-access">You manage the general settings.</p>
{{- else}}
<p id="settings-access">Read-only: only general settings managers can change these.</p>
{{- end}}
<dl class="card">
{{- range .Settings}}
<dt>{{.Name}}</dt><dd>{{.Value}}</dd>
{{- end}}
</dl>
{{end}}`,

	"account": `{{define "content"}}
<h1>Your account</h1>
<dl class="card">
<dt>User ID</dt><dd id="account-id">{{.User.ID}}</dd>
<dt>Name</dt><dd id="account-name">{{.User.Name}}</dd>
<dt>Email</dt><dd id="account-email">{{.User.Email}}</dd>
<dt>Phone</dt><dd id="account-phone">{{plain .User.Phone}}</dd>
<dt>Groups</dt><dd id="account-groups">{{range $i, $g := .User.Groups}}{{if $i}}, {{end}}{{$g}}{{else}}none{{end}}</dd>
</dl>
{{end}}`,
}

// parsePages builds one template per page. The templates are constants, so
// a parse failure is a programming error and panicking is appropriate.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout").Funcs(template.FuncMap{"plain": plainText}).Parse(layoutTemplate))
	pages := make(map[string]*template.Template, len(pageTemplates))
	for name, content := range pageTemplates {
		page := template.Must(template.Must(layout.Clone()).Parse(content))
		pages[name] = page
	}
	return pages
}

// plainText escapes only what HTML requires. html/template would also turn
// "+" into "&#43;", which keeps phone numbers from matching in raw-HTML
// assertions.
func plainText(s string) template.HTML {
	return template.HTML(template.HTMLEscapeString(s))
}

// stylesheet is served from /static/app.css; pages carry no inline styles.
const stylesheet = `*,*::before,*::after{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#f5f7fa}
a{color:#0b5cad}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #f0b429;outline-offset:2px}
.topbar{background:#1f2933;color:#fff}
.topbar nav{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;max-width:48rem;margin:0 auto;padding:.75rem 1rem}
.topbar a{color:#fff;text-decoration:none}
.topbar a:hover{text-decoration:underline}
.brand{font-weight:700;margin-right:auto}
.links{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
.logout{margin:0}
main{max-width:48rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
#signed-in-as{margin:0;color:#52606d;font-size:.875rem}
.card{background:#fff;border:1px solid #d9e2ec;border-radius:.5rem;padding:1rem}
form.card{display:flex;flex-direction:column;gap:.5rem;max-width:24rem}
input{font:inherit;padding:.5rem;border:1px solid #9aa5b1;border-radius:.25rem}
.check{display:flex;align-items:center;gap:.5rem}
.check input{width:1.25rem;height:1.25rem}
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:.25rem;background:#0b5cad;color:#fff;cursor:pointer}
.topbar button{background:#3e4c59;padding:.25rem .75rem}
.error{background:#ffe3e3;border:1px solid #e12d39;color:#8a041a;padding:.5rem 1rem;border-radius:.25rem}
.cards{list-style:none;padding:0;display:grid;gap:.75rem}
.cards li{background:#fff;border:1px solid #d9e2ec;border-radius:.5rem;padding:1rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
caption{text-align:left;font-weight:600;padding:.5rem 0}
th,td{padding:.5rem .75rem;border-bottom:1px solid #d9e2ec;text-align:left}
td{font-variant-numeric:tabular-nums}
dl.card{display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
`
