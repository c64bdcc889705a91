package challenge

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddy2fa/caddy2fa/identity"
)

// Begin sends an identified user who must pass 2FA to our pages: a
// browser navigation is redirected, remembering where it was going
// (server-side); anything else gets a 401 that says so.
func (s *Service) Begin(w http.ResponseWriter, r *http.Request, id identity.Identity) {
	if !isNavigation(r) {
		writeJSON(w, http.StatusUnauthorized, apiError{
			Error:        "two_factor_required",
			Message:      "Two-factor verification is required. Open the challenge URL in a browser.",
			ChallengeURL: s.cfg.PathPrefix + "/",
		})
		return
	}
	if _, err := s.startFlow(w, r, id, r.URL.RequestURI()); err != nil {
		s.Unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.cfg.PathPrefix+"/", http.StatusFound)
}

// isNavigation: a browser asking for a page, as opposed to an API call or
// a form post to the app (those cannot be replayed after a redirect).
func isNavigation(r *http.Request) bool {
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

type apiError struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	ChallengeURL string `json:"challenge_url,omitempty"`
	RetryAfter   string `json:"retry_after,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Unavailable answers 503 when the store cannot be reached: never let an
// unverified request through because we could not check it.
func (s *Service) Unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.event("store_unavailable")
	s.cfg.Logger.Error("two-factor check unavailable (store or identity lookup); request refused", "error", err, "path", r.URL.Path)
	w.Header().Set("Retry-After", "5")
	if !isNavigation(r) && !s.OwnPath(r.URL.Path) {
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Error:   "two_factor_unavailable",
			Message: "The two-factor service is temporarily unavailable. Try again in a moment.",
		})
		return
	}
	s.pages.message(w, r, http.StatusServiceUnavailable, messagePage{
		Title: "Two-factor service is temporarily unavailable",
		Lines: []string{
			"We can't check your sign-in right now, so we can't let you through yet. Nothing is wrong with your account.",
			"Wait a moment and try again. If this keeps happening, contact your administrator.",
		},
		LinkText: "Try again",
		LinkURL:  s.retryLink(r),
	})
}

// retryLink is where "Try again" goes: the page asked for, but only as a
// path on this site ("//evil.example/x" would be another site's).
func (s *Service) retryLink(r *http.Request) string {
	link := SafeReturnPath(r.URL.RequestURI(), s.cfg.PathPrefix)
	if link == "/" && s.OwnPath(r.URL.Path) {
		return s.cfg.PathPrefix + "/"
	}
	return link
}
