package challenge

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/store"
)

// The pages' side of the session cookie: the gate checks it on every
// proxied request (with caches); the pages issue it after a pass and check
// it, without caches, when a page asks whether the user is verified.

func readCookie(r *http.Request, base string) string { return accounts.ReadCookie(r, base) }

func setCookie(w http.ResponseWriter, r *http.Request, base, value string, maxAge time.Duration) {
	accounts.SetCookie(w, r, base, value, maxAge)
}

func clearCookie(w http.ResponseWriter, r *http.Request, base string) {
	accounts.ClearCookie(w, r, base)
}

func randomToken(n int) string { return accounts.RandomToken(n) }

// issueSession writes a verified session; passed is when the user last
// entered a code for it (zero when a trusted device passed them).
func (s *Service) issueSession(w http.ResponseWriter, r *http.Request, user string, appSession string, epoch uint64, device string, passed int64) error {
	now := s.cfg.Now()
	v, err := s.codec.EncodeSession(accounts.Session{
		User: user, App: s.codec.AppBinding(appSession), Epoch: epoch, Device: device, Passed: passed,
		Issued: now.Unix(), Expires: now.Add(s.cfg.SessionLifetime).Unix(),
	})
	if err != nil {
		return err
	}
	// No MaxAge: the cookie ends with the browser session, and its own
	// expiry bounds it server-side.
	setCookie(w, r, accounts.SessionCookie, v, 0)
	s.cfg.OnUserChanged(user)
	return nil
}

// readSession opens the session cookie; ok is false when it is absent,
// forged, expired, or not this user's for this app session.
func (s *Service) readSession(r *http.Request, user, appSession string) (accounts.Session, bool) {
	raw := readCookie(r, accounts.SessionCookie)
	if raw == "" {
		return accounts.Session{}, false
	}
	sess, ok := s.codec.OpenSession(raw, user, appSession)
	if !ok || s.cfg.Now().Unix() >= sess.Expires {
		return accounts.Session{}, false
	}
	return sess, true
}

// verified reports whether the request carries a valid session in which
// the user passed 2FA: under the user's epoch and, if a trusted device
// issued it, on a device still trusted.
func (s *Service) verified(r *http.Request, id identity.Identity) (bool, error) {
	sess, ok := s.readSession(r, id.ID, id.AppSession)
	if !ok || sess.Carried {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	u, err := accounts.GetUser(ctx, s.backend, s.cfg.Realm, id.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case u.Epoch != sess.Epoch:
		return false, nil
	case sess.Device == "":
		return true, nil
	}
	created, err := accounts.DeviceCreated(ctx, s.backend, s.cfg.Realm, id.ID, sess.Device)
	if err != nil || created.IsZero() {
		return false, err
	}
	return s.cfg.Now().Before(created.Add(s.policy.Current().RememberFor())), nil
}
