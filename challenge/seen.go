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
//
// The note is a pass, so it is bounded like one: it names the realm, the
// user and a keyed hash of the app session, the user's epoch, and when the
// app session was first seen. It carries an app session for at most
// session_lifetime from that first sighting, and not at all once the
// user's epoch has changed (an admin's reset, a revocation, a new method).

const seenCookie = "2fa_seen"

// seenMaxAge bounds the note's cookie; it is worth nothing after the
// session lifetime anyway, but it must outlive the wait for 2FA.
const seenMaxAge = 400 * 24 * time.Hour

type seenRef struct {
	Realm string `json:"r"`
	User  string `json:"u"`
	App   string `json:"a,omitempty"`
	Epoch uint64 `json:"e"`
	Since int64  `json:"t"`
}

// seenNote is what the gate needs of an opened note.
type seenNote struct {
	since int64
	epoch uint64
}

// noteAppSession records a user's app session once (first request).
func (s *Service) noteAppSession(w http.ResponseWriter, r *http.Request, id identity.Identity) {
	if _, ok := s.seenNote(r, id); ok {
		return
	}
	// 2FA is off: recording the user is worth a store write once per app
	// session, but a store outage must not block the app.
	u, err := s.rememberUser(r.Context(), id)
	if err != nil || u == nil {
		s.cfg.Logger.Warn("could not record a user while 2FA is off", "error", err)
		return
	}
	ref := seenRef{Realm: s.cfg.Realm, User: id.ID, App: s.appBinding(id.AppSession), Epoch: u.Epoch, Since: s.cfg.Now().Unix()}
	if v, err := s.ring.EncodeCookie(seenCookie, ref); err == nil {
		setCookie(w, r, seenCookie, v, seenMaxAge)
	}
}

// seenNote opens the request's note for this user's app session. Notes
// that opened and matched are cached by the note, the user and the app
// session together (as verified sessions are), so while 2FA is off a
// request costs neither a decryption nor a keyed hash.
func (s *Service) seenNote(r *http.Request, id identity.Identity) (seenNote, bool) {
	raw := readCookie(r, seenCookie)
	if raw == "" {
		return seenNote{}, false
	}
	key := s.keys.of(raw, id.ID, id.AppSession)
	note, ok, gen := s.seen.get(key)
	if !ok {
		var ref seenRef
		if s.ring.DecodeCookie(seenCookie, raw, &ref) != nil || ref.Realm != s.cfg.Realm || ref.User != id.ID || !s.boundTo(ref.App, id.AppSession) {
			return seenNote{}, false
		}
		note = seenNote{since: ref.Since, epoch: ref.Epoch}
		s.seen.put(key, note, gen)
	}
	return note, true
}

// grandfathered: an app session that was open before 2FA was turned on
// passes until the user logs in again, for at most the session lifetime,
// and only while the user's epoch is the one noted (unless the operator
// enforces immediately). Only app sessions the gateway can see qualify:
// with identities from headers and no session_cookie there is nothing to
// bind the note to.
func (s *Service) grandfathered(r *http.Request, id identity.Identity, enabledAt time.Time) (bool, error) {
	if s.cfg.EnforceImmediately || id.AppSession == "" || enabledAt.IsZero() {
		return false, nil
	}
	note, ok := s.seenNote(r, id)
	since := time.Unix(note.since, 0)
	if !ok || !since.Before(enabledAt) || !s.cfg.Now().Before(since.Add(s.cfg.SessionLifetime)) {
		return false, nil
	}
	epoch, err := s.epochs.get(r.Context(), s, id.ID)
	if err != nil {
		return false, err
	}
	return epoch == note.epoch, nil
}
