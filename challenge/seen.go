package challenge

import (
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/identity"
)

// While two-factor authentication is off, the gateway still notes each
// app session it sees, in a signed cookie: that records the user for the
// admins (they get the setup email when 2FA is turned on), and lets an app
// session that was already open when 2FA was turned on continue until the
// user's next login, as the product promises ("required at their next
// login").

const seenCookie = "2fa_seen"

// seenMaxAge bounds the note; the app session it is bound to usually ends
// much sooner.
const seenMaxAge = 400 * 24 * time.Hour

type seenRef struct {
	User  string `json:"u"`
	App   string `json:"a,omitempty"`
	Since int64  `json:"t"`
}

// noteAppSession records a user's app session once (first request).
func (s *Service) noteAppSession(w http.ResponseWriter, r *http.Request, id identity.Identity) {
	if _, ok := s.seenSince(r, id); ok {
		return
	}
	// 2FA is off: recording the user is worth a store write once per app
	// session, but a store outage must not block the app.
	if err := s.rememberUser(r.Context(), id); err != nil {
		s.cfg.Logger.Warn("could not record a user while 2FA is off", "error", err)
		return
	}
	v, err := s.ring.EncodeCookie(seenCookie, seenRef{User: id.ID, App: s.appBinding(id.AppSession), Since: s.cfg.Now().Unix()})
	if err == nil {
		setCookie(w, r, seenCookie, v, seenMaxAge)
	}
}

// seenSince returns when this user's app session was first seen. Notes
// that opened and matched are cached by the note, the user and the app
// session together (as verified sessions are), so while 2FA is off a
// request costs neither a decryption nor a keyed hash.
func (s *Service) seenSince(r *http.Request, id identity.Identity) (time.Time, bool) {
	raw := readCookie(r, seenCookie)
	if raw == "" {
		return time.Time{}, false
	}
	key := s.keys.of(raw, id.ID, id.AppSession)
	since, ok, gen := s.seen.get(key)
	if !ok {
		var ref seenRef
		if s.ring.DecodeCookie(seenCookie, raw, &ref) != nil || ref.User != id.ID || ref.App != s.appBinding(id.AppSession) {
			return time.Time{}, false
		}
		since = ref.Since
		s.seen.put(key, since, gen)
	}
	return time.Unix(since, 0), true
}

// grandfathered: an app session that was open before 2FA was turned on
// passes until the user logs in again (unless the operator enforces
// immediately). Only app sessions the gateway can see qualify.
func (s *Service) grandfathered(r *http.Request, id identity.Identity, enabledAt time.Time) bool {
	if s.cfg.EnforceImmediately || id.AppSession == "" || enabledAt.IsZero() {
		return false
	}
	since, ok := s.seenSince(r, id)
	return ok && since.Before(enabledAt)
}
