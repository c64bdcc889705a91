package pages

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// IsNavigation: a browser asking for a page, as opposed to an API call or
// a form post to the app (those cannot be replayed after a redirect).
func IsNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		return false
	}
	return true
}

// APIError is every JSON error of ours.
type APIError struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	ChallengeURL string `json:"challenge_url,omitempty"`
	RetryAfter   string `json:"retry_after,omitempty"`
}

// WriteJSON writes a JSON answer that no cache keeps.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Unavailable answers 503: the store or the identity lookup cannot be
// asked, so nothing may pass. A browser gets a page with a way to try
// again; anything else JSON.
func (s *Site) Unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	t := s.Words(r)
	if !IsNavigation(r) && !s.own(r.URL.Path) {
		WriteJSON(w, http.StatusServiceUnavailable, APIError{
			Error:   "two_factor_unavailable",
			Message: t.T("pages.unavailable.api"),
		})
		return
	}
	s.Message(w, r, http.StatusServiceUnavailable, Message{
		Title:    t.T("pages.unavailable.title"),
		Lines:    []string{t.T("pages.unavailable.line1"), t.T("pages.unavailable.line2")},
		LinkText: t.T("pages.unavailable.link"),
		LinkURL:  s.retryLink(r),
	})
}

func (s *Site) own(path string) bool {
	return path == s.cfg.Prefix || strings.HasPrefix(path, s.cfg.Prefix+"/")
}

// retryLink is where "Try again" goes: the page asked for, but only as a
// path on this site ("//evil.example/x" would be another site's).
func (s *Site) retryLink(r *http.Request) string {
	link := SafeReturnPath(r.URL.RequestURI(), s.cfg.Prefix)
	if link == "/" && s.own(r.URL.Path) {
		return s.cfg.Prefix + "/"
	}
	return link
}

// returnablePages are our pages a user may be sent back to after passing
// a challenge; every other path under the prefix would loop.
var returnablePages = []string{"/admin", "/methods", "/devices", "/enroll", "/enroll/totp", "/enroll/email", "/enroll/sms", "/enroll/webauthn", "/recovery-codes/new"}

// SafeReturnPath turns a would-be return URL into a path on this site:
// anything that a browser could read as another origin, or that points
// back into our own pages, becomes "/".
func SafeReturnPath(raw, prefix string) string {
	const home = "/"
	if raw == "" || len(raw) > 2048 {
		return home
	}
	for _, c := range raw {
		// Control characters, spaces and backslashes: browsers strip or
		// reinterpret them ("/\evil" is "//evil" to them).
		if c < 0x21 || c == 0x7f || c == '\\' {
			return home
		}
	}
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return home
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	// Decoded forms too: "/%2f/evil" or "/%5cevil" must not become a
	// network-path reference after a proxy decodes it.
	dec, err := url.PathUnescape(u.EscapedPath())
	if err != nil || strings.ContainsAny(dec, "\\") {
		return home
	}
	for _, c := range dec {
		if c < 0x20 || c == 0x7f {
			return home
		}
	}
	if strings.HasPrefix(strings.ReplaceAll(dec, " ", ""), "//") {
		return home
	}
	if u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/") {
		// Our own pages: only those a verified user comes back to.
		for _, p := range returnablePages {
			if u.Path == prefix+p {
				return raw
			}
		}
		return home
	}
	return raw
}
