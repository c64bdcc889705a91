package legacyapp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

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
