package gate

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
)

// While two-factor authentication is off, the gate still notes each app
// session it sees, in a signed cookie: that records the user for the
// admins (they get the setup email when 2FA is turned on), and lets an app
// session that was already open when 2FA was turned on continue until the
// user's next login, as the product promises ("required at their next
// login").
//
// The note is a pass, so it is bounded like one: it names the realm, the
// user and a keyed hash of the app session, the user's epoch, and when the
// app session was first seen. It carries an app session for at most the
// session lifetime from that first sighting, and not at all once the
// user's epoch has changed (an admin's reset, a revocation, a new method).

// seenMaxAge bounds the note's cookie; it is worth nothing after the
// session lifetime anyway, but it must outlive the wait for 2FA.
const seenMaxAge = 400 * 24 * time.Hour

// noteAppSession records a user's app session once (its first request),
// and returns the note's cookie, if one is due.
func (g *Gate) noteAppSession(ctx context.Context, f *Facts) []*http.Cookie {
	if _, ok := g.seenNote(f); ok {
		return nil
	}
	// Worth a store write once per app session; but a store outage must
	// not block the app while 2FA is off.
	u, err := accounts.RememberUser(ctx, g.realm.backend, g.realm.name, f.Identity, g.realm.now())
	if err != nil || u == nil {
		g.realm.logger.Warn("could not record a user while 2FA is off", "error", err)
		return nil
	}
	v, err := g.realm.codec.EncodeSeen(accounts.SeenNote{User: f.Identity.ID, App: g.realm.codec.AppBinding(f.Identity.AppSession), Epoch: u.Epoch, Since: g.realm.now().Unix()})
	if err != nil {
		return nil
	}
	return []*http.Cookie{accounts.MakeCookie(f.Secure, accounts.SeenCookie, v, seenMaxAge)}
}

// seenNote opens the request's note for this user's app session. Notes
// that opened and matched are cached by the note, the user and the app
// session together (as verified sessions are), so while 2FA is off a
// request costs neither a decryption nor a keyed hash.
func (g *Gate) seenNote(f *Facts) (accounts.SeenNote, bool) {
	raw := f.ownCookie(accounts.SeenCookie)
	if raw == "" {
		return accounts.SeenNote{}, false
	}
	id := f.Identity
	key := g.realm.keys.of(raw, id.ID, id.AppSession)
	note, ok, gen := g.realm.seen.get(key)
	if !ok {
		if note, ok = g.realm.codec.OpenSeen(raw, id.ID, id.AppSession); !ok {
			return accounts.SeenNote{}, false
		}
		g.realm.seen.put(key, note, gen)
	}
	return note, true
}

// grandfathered returns a carried session for an app session that was
// open before 2FA was turned on, for at most the session lifetime, and only
// while the user's epoch is the one noted (unless the operator enforces
// immediately); nil when there is none. Only app sessions the gate can see
// qualify: with identities from headers and no session_cookie there is
// nothing to bind the note to.
func (g *Gate) grandfathered(ctx context.Context, f *Facts, enabledAt time.Time) (*http.Cookie, error) {
	id := f.Identity
	if g.cfg.EnforceImmediately || id.AppSession == "" || enabledAt.IsZero() {
		return nil, nil
	}
	note, ok := g.seenNote(f)
	since := time.Unix(note.Since, 0)
	if !ok || !since.Before(enabledAt) || !g.realm.now().Before(since.Add(g.cfg.SessionLifetime)) {
		return nil, nil
	}
	epoch, err := g.realm.epochs.get(ctx, g.realm, id.ID)
	if err != nil || epoch != note.Epoch {
		return nil, err
	}
	return g.sessionCookie(f, id, epoch, "", true)
}

// sessionCookie issues a session cookie from a pass without a code: a
// trusted device's, or a grandfathered app session's (carried).
func (g *Gate) sessionCookie(f *Facts, id identity.Identity, epoch uint64, device string, carried bool) (*http.Cookie, error) {
	now := g.realm.now()
	v, err := g.realm.codec.EncodeSession(accounts.Session{
		User: id.ID, App: g.realm.codec.AppBinding(id.AppSession), Epoch: epoch, Device: device, Carried: carried,
		Issued: now.Unix(), Expires: now.Add(g.cfg.SessionLifetime).Unix(),
	})
	if err != nil {
		return nil, err
	}
	// No MaxAge: the cookie ends with the browser session, and its own
	// expiry bounds it server-side.
	return accounts.MakeCookie(f.Secure, accounts.SessionCookie, v, 0), nil
}
