package pages

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
)

// CSRF defence, twice over: a token in every form that only a page we
// rendered could know (a keyed hash of a random per-browser cookie and the
// user), and, when the browser says where a POST comes from (Origin or
// Sec-Fetch-Site), that it is this site.

// CSRF makes and checks the form tokens of one realm.
type CSRF struct {
	ring  *keyring.Ring
	realm string
}

// NewCSRF is a realm's form tokens, keyed by its ring.
func NewCSRF(ring *keyring.Ring, realm string) CSRF { return CSRF{ring: ring, realm: realm} }

// Token returns the form token, setting the browser's CSRF cookie if it
// has none.
func (c CSRF) Token(w http.ResponseWriter, r *http.Request, user string) string {
	seed := accounts.ReadCookie(r, accounts.CSRFCookie)
	if len(seed) < 20 || len(seed) > 64 {
		seed = accounts.RandomToken(24)
		accounts.SetCookie(w, r, accounts.CSRFCookie, seed, 24*time.Hour)
		// Later reads in this request see the new cookie.
		r.AddCookie(&http.Cookie{Name: accounts.CookieName(r, accounts.CSRFCookie), Value: seed})
	}
	return base64.RawURLEncoding.EncodeToString(c.ring.MAC("csrf", c.realm, user, seed))
}

// OK checks a POST: the form token matches the cookie and user, and the
// request does not come from another site.
func (c CSRF) OK(r *http.Request, user string) bool {
	if !SameOrigin(r) {
		return false
	}
	seed := accounts.ReadCookie(r, accounts.CSRFCookie)
	if seed == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("csrf"))
	if err != nil || len(got) != 32 {
		return false
	}
	return c.ring.VerifyMAC(got, "csrf", c.realm, user, seed)
}

// SameOrigin refuses requests a browser marks as cross-site.
func SameOrigin(r *http.Request) bool {
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
