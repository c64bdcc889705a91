package challenge

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
)

// CSRF defence, twice over: a token in every form that only a page we
// rendered could know (a keyed hash of a random per-browser cookie and the
// user), and, when the browser says where a POST comes from (Origin or
// Sec-Fetch-Site), that it is this site.

// csrfToken returns the form token, setting the browser's CSRF cookie if
// it has none.
func (s *Service) csrfToken(w http.ResponseWriter, r *http.Request, user string) string {
	seed := readCookie(r, accounts.CSRFCookie)
	if len(seed) < 20 || len(seed) > 64 {
		seed = randomToken(24)
		setCookie(w, r, accounts.CSRFCookie, seed, 24*time.Hour)
		// Later reads in this request see the new cookie.
		r.AddCookie(&http.Cookie{Name: accounts.CookieName(r, accounts.CSRFCookie), Value: seed})
	}
	return base64.RawURLEncoding.EncodeToString(s.ring.MAC("csrf", s.cfg.Realm, user, seed))
}

// csrfOK checks a POST: the form token matches the cookie and user, and the
// request does not come from another site.
func (s *Service) csrfOK(r *http.Request, user string) bool {
	if !sameOrigin(r) {
		return false
	}
	seed := readCookie(r, accounts.CSRFCookie)
	if seed == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("csrf"))
	if err != nil || len(got) != 32 {
		return false
	}
	return s.ring.VerifyMAC(got, "csrf", s.cfg.Realm, user, seed)
}

// sameOrigin refuses requests a browser marks as cross-site.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	// A page whose referrer policy hides the referrer makes the browser
	// send "Origin: null" even for its own forms; the fetch metadata then
	// still says whether the post came from this origin.
	if origin == "" || (origin == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin") {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return false
	}
	want := "http"
	if r.TLS != nil {
		want = "https"
	}
	return u.Scheme == want
}
