// Package legacyapp is a small stand-in for a legacy web application that
// already has its own username/password login. The two-factor gateway is
// demonstrated and tested in front of it: the app knows nothing about the
// gateway and only ever sees the requests the gateway lets through.
package legacyapp

import (
	"html/template"
	"net/http"
	"sync"
	"time"
)

// SessionCookieName is the cookie holding the app's own session token.
const SessionCookieName = "legacy_session"

// RememberCookieName is the "keep me signed in" cookie: with it, the app
// knows the user without a session, as many legacy apps do.
const RememberCookieName = "legacy_remember"

// rememberFor is how long "keep me signed in" lasts.
const rememberFor = 30 * 24 * time.Hour

// DefaultOrgName is shown in the nav bar when Options.OrgName is empty.
const DefaultOrgName = "Acme Corp"

// maxLoginFormBytes bounds the login form body; the real form is tiny.
const maxLoginFormBytes = 64 << 10

// User is an account of the legacy app.
type User struct {
	ID       string
	Password string
	Name     string
	Email    string
	Phone    string
	Groups   []string
}

// DemoUsers returns the built-in accounts. Each call returns fresh copies so
// callers may modify them freely.
func DemoUsers() []User {
	return []User{
		{
			ID:       "alice",
			Password: "alice-demo",
			Name:     "Alice Admin",
			Email:    "alice@acme.example",
			Phone:    "+14155550101",
			Groups:   []string{"general_settings:manager"},
		},
		{
			ID:       "bob",
			Password: "bob-demo",
			Name:     "Bob Builder",
			Email:    "bob@acme.example",
			Phone:    "+14155550102",
			Groups:   []string{"staff"},
		},
		{
			ID:       "carol",
			Password: "carol-demo",
			Name:     "Carol Chen",
			Email:    "carol@acme.example",
			Phone:    "+14155550103",
			Groups:   []string{"staff"},
		},
	}
}

// Options configures New. The zero value gives the demo app.
type Options struct {
	// Users are the accounts that can log in; empty means DemoUsers().
	Users []User
	// OnRequest, if set, is called for every request the app receives,
	// before it is handled. Tests use it to count what reached the upstream.
	OnRequest func(*http.Request)
	// OrgName is shown in the nav bar and page titles; empty means
	// DefaultOrgName.
	OrgName string
	// KeepSessionAcrossLogin makes the app behave like many old ones: a
	// login reuses the browser's session token instead of issuing a new
	// one, and a logout only marks it logged out.
	KeepSessionAcrossLogin bool
}

// App is the legacy application. It is safe for concurrent use.
type App struct {
	usersByID map[string]User
	onRequest func(*http.Request)
	orgName   string
	pages     map[string]*template.Template
	mux       *http.ServeMux

	keepSessions bool

	sessionsMu sync.Mutex
	sessions   map[string]string // session token -> user ID ("" once logged out)
	remembered map[string]string // remember-me token -> user ID
}

// New builds the app with its routes.
func New(opts Options) *App {
	users := opts.Users
	if len(users) == 0 {
		users = DemoUsers()
	}
	a := &App{
		usersByID: make(map[string]User, len(users)),
		onRequest: opts.OnRequest,
		orgName:   opts.OrgName,
		pages:     parsePages(),
		mux:       http.NewServeMux(),
		sessions:  make(map[string]string),
		// Tokens of "keep me signed in".
		remembered:   make(map[string]string),
		keepSessions: opts.KeepSessionAcrossLogin,
	}
	if a.orgName == "" {
		a.orgName = DefaultOrgName
	}
	for _, u := range users {
		// Copy the groups so later changes to the caller's slice do not
		// leak into the running app.
		u.Groups = append([]string(nil), u.Groups...)
		a.usersByID[u.ID] = u
	}

	a.mux.HandleFunc("GET /login", a.handleLoginForm)
	a.mux.HandleFunc("POST /login", a.handleLoginSubmit)
	a.mux.HandleFunc("GET /logout", a.handleLogout)
	a.mux.HandleFunc("POST /logout", a.handleLogout)

	a.mux.HandleFunc("GET /{$}", a.requireLogin(a.handleHome))
	a.mux.HandleFunc("GET /reports", a.requireLogin(a.handleReports))
	a.mux.HandleFunc("GET /reports/q3", a.requireLogin(a.handleReportQ3))
	a.mux.HandleFunc("GET /settings", a.requireLogin(a.handleSettings))
	a.mux.HandleFunc("GET /account", a.requireLogin(a.handleAccount))

	a.mux.HandleFunc("GET /api/me", a.handleAPIMe)
	a.mux.HandleFunc("GET /healthz", handleHealthz)
	a.mux.HandleFunc("GET /static/app.css", handleStylesheet)
	a.mux.HandleFunc("/echo", a.handleEcho)
	a.mux.HandleFunc("/echo/", a.handleEcho)
	return a
}

// ServeHTTP implements http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.onRequest != nil {
		a.onRequest(r)
	}
	a.mux.ServeHTTP(w, r)
}
