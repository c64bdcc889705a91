package pages

import (
	"net/http"

	"github.com/caddy2fa/caddy2fa/identity"
)

// MaxFormBytes bounds every form we read.
const MaxFormBytes = 16 << 10

// HandlerFunc is one of our pages, told who asks. An error means the store
// (or a sender) could not be asked: the page fails closed with a 503.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, id identity.Identity) error

// Handle serves a page behind the checks every page shares: the user is
// signed in to the app, and a POST is a form of ours (within MaxFormBytes,
// with its CSRF token, from this site).
func (s *Site) Handle(csrf CSRF, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identity.FromContext(r.Context())
		if !id.Known() {
			t := s.Words(r)
			s.Message(w, r, http.StatusUnauthorized, Message{
				Title:    t.T("pages.sign_in_first.title"),
				Lines:    []string{t.T("pages.sign_in_first.line", "Org", s.cfg.Org)},
				LinkText: t.T("pages.sign_in_first.link"),
				LinkURL:  "/",
			})
			return
		}
		r = s.withLanguage(w, r, csrf, id)
		if r.Method == http.MethodPost {
			t := s.Words(r)
			r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.Message(w, r, http.StatusRequestEntityTooLarge, Message{Title: t.T("pages.form_unreadable.title"), Lines: []string{t.T("pages.form_unreadable.line")}, LinkText: t.T("pages.form_unreadable.link"), LinkURL: s.cfg.Prefix + "/"})
				return
			}
			if !csrf.OK(r, id.ID) {
				s.cfg.OnEvent("csrf_refused")
				s.Message(w, r, http.StatusForbidden, Message{
					Title:    t.T("pages.form_expired.title"),
					Lines:    []string{t.T("pages.form_expired.line")},
					LinkText: t.T("pages.form_expired.link"), LinkURL: r.URL.Path,
				})
				return
			}
		}
		if err := h(w, r, id); err != nil {
			s.Fail(w, r, err)
		}
	})
}

// Fail answers a page whose store or sender could not be asked: 503, and
// the operator is told why.
func (s *Site) Fail(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.OnEvent("store_unavailable")
	s.cfg.Logger.Error("two-factor check unavailable (store or identity lookup); request refused", "error", err, "path", r.URL.Path)
	s.Unavailable(w, r)
}

// NotFound is the page of a path under the prefix that is none of ours.
func (s *Site) NotFound(w http.ResponseWriter, r *http.Request) {
	t := s.Words(r)
	s.Message(w, r, http.StatusNotFound, Message{Title: t.T("pages.not_found.title"), LinkText: t.T("pages.not_found.link"), LinkURL: s.cfg.Prefix + "/"})
}

// Redirect sends the browser on after a page (303: a POST is not
// repeated).
func Redirect(w http.ResponseWriter, r *http.Request, to string) {
	SecurityHeaders(w.Header())
	http.Redirect(w, r, to, http.StatusSeeOther)
}
