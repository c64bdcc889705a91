package legacyapp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
)

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
