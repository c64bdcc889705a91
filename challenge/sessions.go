package challenge

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// sessions are the pages' side of the session cookie: the gate checks it
// on every proxied request (with caches); the pages issue it after a pass
// and check it, without caches, when a page asks whether the user is
// verified.
type sessions struct {
	backend       store.Backend
	codec         accounts.Codec
	realm         string
	policy        *policy.Snapshot
	lifetime      time.Duration
	freshFor      time.Duration
	now           func() time.Time
	onUserChanged func(string)
}

// issue writes a verified session; passed is when the user last entered a
// code for it (zero when a trusted device passed them).
func (ss *sessions) issue(w http.ResponseWriter, r *http.Request, user string, appSession string, epoch uint64, device string, passed int64, method string) error {
	return ss.write(w, r, accounts.Session{
		User: user, App: ss.codec.AppBinding(appSession), Epoch: epoch, Device: device, Passed: passed, Method: method,
	})
}

// write issues s from now for the session lifetime.
func (ss *sessions) write(w http.ResponseWriter, r *http.Request, s accounts.Session) error {
	now := ss.now()
	s.Issued, s.Expires = now.Unix(), now.Add(ss.lifetime).Unix()
	v, err := ss.codec.EncodeSession(s)
	if err != nil {
		return err
	}
	// No MaxAge: the cookie ends with the browser session, and its own
	// expiry bounds it server-side.
	accounts.SetCookie(w, r, accounts.SessionCookie, v, 0)
	ss.onUserChanged(s.User)
	return nil
}

// read opens the session cookie; ok is false when it is absent, forged,
// expired, or not this user's for this app session.
func (ss *sessions) read(r *http.Request, user, appSession string) (accounts.Session, bool) {
	raw := accounts.ReadCookie(r, accounts.SessionCookie)
	if raw == "" {
		return accounts.Session{}, false
	}
	sess, ok := ss.codec.OpenSession(raw, user, appSession)
	if !ok || ss.now().Unix() >= sess.Expires {
		return accounts.Session{}, false
	}
	return sess, true
}

// verified reports whether the request carries a valid session in which
// the user passed 2FA: under the user's epoch and, if a trusted device
// issued it, on a device still trusted.
func (ss *sessions) verified(r *http.Request, id identity.Identity) (bool, error) {
	sess, ok := ss.read(r, id.ID, id.AppSession)
	if !ok || sess.Carried {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	u, err := accounts.GetUser(ctx, ss.backend, ss.realm, id.ID)
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
	created, err := accounts.DeviceCreated(ctx, ss.backend, ss.realm, id.ID, sess.Device)
	if err != nil || created.IsZero() {
		return false, err
	}
	return ss.now().Before(created.Add(ss.policy.Current().RememberFor())), nil
}

// fresh reports whether the user entered a code in this session within
// freshFor, and the session is still valid.
func (ss *sessions) fresh(r *http.Request, id identity.Identity) (bool, error) {
	return ss.freshWithin(r, id, ss.freshFor)
}

// freshWithin is fresh for another window (a step-up path's).
func (ss *sessions) freshWithin(r *http.Request, id identity.Identity, within time.Duration) (bool, error) {
	sess, ok := ss.read(r, id.ID, id.AppSession)
	if !ok || sess.Carried || sess.Passed == 0 || ss.now().Sub(time.Unix(sess.Passed, 0)) > within {
		return false, nil
	}
	return ss.verified(r, id)
}
