// Package legacyapp is a small stand-in for a legacy web application that
// already has its own username/password login. The two-factor gateway is
// demonstrated and tested in front of it: the app knows nothing about the
// gateway and only ever sees the requests the gateway lets through.
package legacyapp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
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

// Login checks the credentials and, if they are valid, starts a session
// exactly as the login form would. The returned token is the value of the
// SessionCookieName cookie.
func (a *App) Login(username, password string) (sessionToken string, ok bool) {
	user, ok := a.checkPassword(username, password)
	if !ok {
		return "", false
	}
	return a.startSession(user.ID), true
}

// Logout ends the session with the given token. Unknown tokens are ignored.
func (a *App) Logout(token string) {
	a.sessionsMu.Lock()
	if a.keepSessions {
		a.sessions[token] = ""
	} else {
		delete(a.sessions, token)
	}
	a.sessionsMu.Unlock()
}

// checkPassword looks the user up and compares the password in constant
// time. Unknown users are compared against a dummy value so that the
// response time does not reveal which usernames exist.
func (a *App) checkPassword(username, password string) (User, bool) {
	user, known := a.usersByID[username]
	want := user.Password
	if !known {
		want = "unknown-user-placeholder"
	}
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !known || !match || user.Password == "" {
		return User{}, false
	}
	return user, true
}

func (a *App) startSession(userID string) string {
	token := newSessionToken()
	a.sessionsMu.Lock()
	a.sessions[token] = userID
	a.sessionsMu.Unlock()
	return token
}

func newSessionToken() string {
	var raw [32]byte
	// crypto/rand.Read never returns an error; it aborts the program if the
	// system's randomness is unavailable.
	_, _ = rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// currentUser returns the user owning the request's session cookie, or
// else its remember-me cookie.
func (a *App) currentUser(r *http.Request) (User, bool) {
	var userID string
	a.sessionsMu.Lock()
	if cookie, err := r.Cookie(SessionCookieName); err == nil && cookie.Value != "" {
		userID = a.sessions[cookie.Value]
	}
	if cookie, err := r.Cookie(RememberCookieName); userID == "" && err == nil && cookie.Value != "" {
		userID = a.remembered[cookie.Value]
	}
	a.sessionsMu.Unlock()
	user, ok := a.usersByID[userID]
	return user, ok
}

// remember issues a "keep me signed in" token for the user.
func (a *App) remember(w http.ResponseWriter, r *http.Request, userID string) {
	token := newSessionToken()
	a.sessionsMu.Lock()
	a.remembered[token] = userID
	a.sessionsMu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: RememberCookieName, Value: token, Path: "/", MaxAge: int(rememberFor / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
}

// forget ends the request's remember-me token, if any.
func (a *App) forget(w http.ResponseWriter, r *http.Request) {
	if cookie, err := r.Cookie(RememberCookieName); err == nil {
		a.sessionsMu.Lock()
		delete(a.remembered, cookie.Value)
		a.sessionsMu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: RememberCookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// requireLogin sends anonymous visitors to the login form, remembering
// where they wanted to go.
func (a *App) requireLogin(next func(http.ResponseWriter, *http.Request, User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, ok := a.currentUser(r)
		if !ok {
			http.Redirect(w, r, loginURL(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r, user)
	}
}

// loginURL builds /login?next=... keeping slashes readable, so the common
// case looks like /login?next=/reports.
func loginURL(next string) string {
	return "/login?next=" + strings.ReplaceAll(url.QueryEscape(next), "%2F", "/")
}

// safeRedirectTarget returns next if it is a path on this site and "/"
// otherwise. "//host" and "/\host" are rejected because browsers treat both
// as links to another host; control characters are rejected because
// browsers strip them, which can turn "/\t/host" into "//host".
func safeRedirectTarget(next string) string {
	if !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	return next
}

func (a *App) setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookieName,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		// The demo usually runs on plain HTTP behind the gateway, so only
		// mark the cookie Secure when this hop itself is TLS.
		Secure: r.TLS != nil,
	})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (a *App) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	data := a.pageData(r, "Sign in")
	data.Next = safeRedirectTarget(r.URL.Query().Get("next"))
	a.render(w, http.StatusOK, "login", data)
}

func (a *App) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	username := r.PostForm.Get("username")
	next := safeRedirectTarget(r.PostForm.Get("next"))

	user, ok := a.checkPassword(username, r.PostForm.Get("password"))
	if !ok {
		data := a.pageData(r, "Sign in")
		data.Next = next
		data.Username = username
		data.Error = "Invalid username or password."
		a.render(w, http.StatusUnauthorized, "login", data)
		return
	}

	if r.PostForm.Get("remember") != "" {
		a.remember(w, r, user.ID)
	}
	old, err := r.Cookie(SessionCookieName)
	if a.keepSessions && err == nil && old.Value != "" {
		// The old way: the token the browser already holds is now this
		// user's, and no cookie is set.
		a.sessionsMu.Lock()
		a.sessions[old.Value] = user.ID
		a.sessionsMu.Unlock()
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	// Drop any previous session so a token planted before login is never
	// upgraded to an authenticated one.
	if err == nil {
		a.Logout(old.Value)
	}
	a.setSessionCookie(w, r, a.startSession(user.ID))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *App) handleLogout(w http.ResponseWriter, r *http.Request) {
	if cookie, err := r.Cookie(SessionCookieName); err == nil {
		a.Logout(cookie.Value)
	}
	a.forget(w, r)
	if !a.keepSessions {
		clearSessionCookie(w)
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (a *App) handleHome(w http.ResponseWriter, r *http.Request, user User) {
	a.renderUserPage(w, user, "home", "Home")
}

func (a *App) handleReports(w http.ResponseWriter, r *http.Request, user User) {
	data := a.userPageData(user, "Reports")
	data.Quarters = quarterSummaries
	a.render(w, http.StatusOK, "reports", data)
}

func (a *App) handleReportQ3(w http.ResponseWriter, r *http.Request, user User) {
	data := a.userPageData(user, "Q3 report")
	data.Regions = q3Regions
	a.render(w, http.StatusOK, "report-q3", data)
}

// settingsManagerGroup may change the general settings; everyone else gets
// a read-only view, which gives the gateway's group rules something to show.
const settingsManagerGroup = "general_settings:manager"

func (a *App) handleSettings(w http.ResponseWriter, r *http.Request, user User) {
	data := a.userPageData(user, "Settings")
	data.Settings = generalSettings
	data.CanManageSettings = slices.Contains(user.Groups, settingsManagerGroup)
	a.render(w, http.StatusOK, "settings", data)
}

func (a *App) handleAccount(w http.ResponseWriter, r *http.Request, user User) {
	a.renderUserPage(w, user, "account", "Account")
}

// userJSON is how a user is described by /api/me and /echo. The password
// is deliberately absent.
type userJSON struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Phone  string   `json:"phone"`
	Groups []string `json:"groups"`
}

func toUserJSON(u User) *userJSON {
	groups := u.Groups
	if groups == nil {
		groups = []string{} // encode as [] rather than null
	}
	return &userJSON{ID: u.ID, Name: u.Name, Email: u.Email, Phone: u.Phone, Groups: groups}
}

func (a *App) handleAPIMe(w http.ResponseWriter, r *http.Request) {
	user, ok := a.currentUser(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not_logged_in"})
		return
	}
	writeJSON(w, http.StatusOK, toUserJSON(user))
}

// echoResponse describes the request exactly as the app received it.
type echoResponse struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"raw_query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Headers    map[string][]string `json:"headers"`
	User       *userJSON           `json:"user"`
}

func (a *App) handleEcho(w http.ResponseWriter, r *http.Request) {
	resp := echoResponse{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		Headers:    r.Header,
	}
	if resp.Headers == nil {
		resp.Headers = map[string][]string{}
	}
	if user, ok := a.currentUser(r); ok {
		resp.User = toUserJSON(user)
	}
	writeJSON(w, http.StatusOK, resp)
}

func handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok"))
}

func handleStylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write([]byte(stylesheet))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	encoded, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Every JSON answer is about a particular user or request.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(encoded, '\n'))
}

func (a *App) pageData(r *http.Request, title string) pageData {
	data := pageData{OrgName: a.orgName, Title: title}
	if user, ok := a.currentUser(r); ok {
		data.User = &user
	}
	return data
}

func (a *App) userPageData(user User, title string) pageData {
	return pageData{OrgName: a.orgName, Title: title, User: &user}
}

func (a *App) renderUserPage(w http.ResponseWriter, user User, page, title string) {
	a.render(w, http.StatusOK, page, a.userPageData(user, title))
}

// render executes into a buffer first so a template error never leaves a
// half-written page behind a 200 status.
func (a *App) render(w http.ResponseWriter, status int, page string, data pageData) {
	var buf bytes.Buffer
	if err := a.pages[page].Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Pages show personal data, so shared caches must not keep them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
