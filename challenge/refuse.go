package challenge

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
)

// Requests the gateway refuses before it knows who sent them: a Cookie
// header the app could read differently, or a credential the who-am-I
// lookup is not given. They are counted, and audited at most once per
// client per auditWindow, so a flood of them cannot fill the audit log.

// auditWindow is how long audit events of one kind and key are folded
// into one.
const auditWindow = 10 * time.Minute

// RefuseAmbiguousCookie answers 400 to a request whose Cookie header some
// common stack could read as the app's session (or a forwarded) cookie
// under another spelling, and expires the odd cookie where it can be named.
func (s *Service) RefuseAmbiguousCookie(w http.ResponseWriter, r *http.Request, err error) {
	var amb *identity.AmbiguousCookieError
	detail := err.Error()
	if errors.As(err, &amb) {
		detail = fmt.Sprintf("cookie %q could be read as %q", amb.Sent, amb.Resembles)
		if isCookieToken(amb.Sent) {
			http.SetCookie(w, &http.Cookie{Name: amb.Sent, Value: "", Path: "/", MaxAge: -1})
		}
	}
	s.refused(r, "cookie_refused", detail)
	s.refusal(w, r, "malformed_cookie", messagePage{
		Title: "Your browser sent a malformed cookie",
		Lines: []string{
			"Your sign-in cookie arrived in a form we can't check, so we can't let the request through.",
			"Sign in to the app again. If this page comes back, clear this site's cookies in your browser's settings (or use a private window) and sign in again.",
		},
		LinkText: "Go to the start page",
		LinkURL:  "/",
	})
}

// RefuseUncheckedCredential answers 400 to a request that carries a
// credential the app accepts but the who-am-I lookup is not given (an
// Authorization header, a session id in the URL): the gateway cannot know
// whose it is, so it cannot let it through as anonymous.
func (s *Service) RefuseUncheckedCredential(w http.ResponseWriter, r *http.Request, what string) {
	s.refused(r, "credential_refused", what)
	s.refusal(w, r, "credential_not_checked", messagePage{
		Title: "This kind of sign-in can't be used here",
		Lines: []string{
			"The request carried a sign-in (" + what + ") that this site's two-factor check can't verify.",
			"Sign in through the app's own login page instead.",
		},
		LinkText: "Go to the start page",
		LinkURL:  "/",
	})
}

func (s *Service) refusal(w http.ResponseWriter, r *http.Request, code string, m messagePage) {
	if !isNavigation(r) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: code, Message: m.Lines[0] + " " + m.Lines[1]})
		return
	}
	s.pages.message(w, r, http.StatusBadRequest, m)
}

// refused counts a refusal and audits it, folded per client address.
func (s *Service) refused(r *http.Request, action, detail string) {
	s.event(action)
	ip := s.cfg.ClientIP(r)
	folded, ok := s.refusals.admit(action+"\x00"+ip, s.cfg.Now())
	if !ok {
		return
	}
	if folded > 0 {
		detail = fmt.Sprintf("%s (and %d more from this address since the last entry)", detail, folded)
	}
	s.cfg.Logger.Warn("request refused", "action", action, "ip", ip, "detail", detail)
	s.auditEvent(r.Context(), accounts.AuditEvent{Actor: "", Action: action, IP: ip, Detail: accounts.ClipText(detail, 256)})
}

// isCookieToken reports whether name can be named in a Set-Cookie header.
func isCookieToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '=' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// folder lets one event per key through per window and counts the others,
// which the next one that gets through reports. It holds at most maxKeys
// keys; beyond that, events of new keys are counted but not written.
type folder struct {
	mu      sync.Mutex
	window  time.Duration
	maxKeys int
	keys    map[string]*foldedKey
}

type foldedKey struct {
	last   time.Time
	folded int
}

func newFolder(window time.Duration, maxKeys int) *folder {
	return &folder{window: window, maxKeys: maxKeys, keys: make(map[string]*foldedKey)}
}

// admit reports whether an event of key may be written now, and how many
// were folded since the last one written.
func (f *folder) admit(key string, now time.Time) (folded int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[key]
	if k == nil {
		if len(f.keys) >= f.maxKeys {
			for key, old := range f.keys {
				if now.Sub(old.last) >= f.window && old.folded == 0 {
					delete(f.keys, key)
				}
			}
		}
		if len(f.keys) >= f.maxKeys {
			return 0, false
		}
		f.keys[key] = &foldedKey{last: now}
		return 0, true
	}
	if now.Sub(k.last) < f.window {
		k.folded++
		return 0, false
	}
	folded = k.folded
	k.last, k.folded = now, 0
	return folded, true
}

// RefuseMalformedPath answers 400 to a path with control characters, which
// servers truncate, strip or refuse each in their own way.
func (s *Service) RefuseMalformedPath(w http.ResponseWriter, r *http.Request) {
	s.event("path_refused")
	s.refusal(w, r, "malformed_path", messagePage{
		Title:    "This address can't be opened",
		Lines:    []string{"The address holds characters that aren't allowed in a web address.", "Check the link you followed, or start again from the start page."},
		LinkText: "Go to the start page",
		LinkURL:  "/",
	})
}
