package gate

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/store"
)

// cachedSession is what the gate needs of an opened session cookie (a
// 48-byte slot per verified user, with no pointer but the rare device ID).
// Only values the gateway made get in: a forged cookie never opens. The
// key stands for the cookie, the user and the app session together, so the
// same cookie with any other user or app session misses and is checked in
// full; the expiry is checked on every request.
type cachedSession struct {
	device  string
	epoch   uint64
	expires int64
	passed  int64
	carried bool
	method  uint8 // index+1 in sessionMethods; 0: not known
}

// sessionMethods are the methods a session may name, by number (a byte in
// the cache instead of a string).
var sessionMethods = []string{"webauthn", "totp", "email", "sms", "recovery"}

func methodIndex(m string) uint8 {
	for i, s := range sessionMethods {
		if s == m {
			return uint8(i + 1)
		}
	}
	return 0
}

// facts is how the session passed, for the verdict.
func (s cachedSession) facts() Passed {
	// A session a trusted device opened has no code in it; one where the
	// user entered a code and ticked "remember" names the device too.
	p := Passed{At: s.passed, TrustedDevice: s.device != "" && s.passed == 0, Carried: s.carried}
	if s.method > 0 {
		p.Method = sessionMethods[s.method-1]
	}
	return p
}

// validSession reports whether the request's session cookie is this
// user's, for this app session, under the user's epoch, unexpired, and (if
// a trusted device issued it) on a device still trusted.
func (g *Gate) validSession(ctx context.Context, f *Facts) (Passed, bool, error) {
	raw := f.ownCookie(accounts.SessionCookie)
	if raw == "" {
		return Passed{}, false, nil
	}
	id := f.Identity
	key := g.realm.keys.of(raw, id.ID, id.AppSession)
	s, ok, gen := g.realm.sessions.get(key)
	if !ok {
		opened, ok := g.realm.codec.OpenSession(raw, id.ID, id.AppSession)
		if !ok {
			return Passed{}, false, nil
		}
		s = cachedSession{device: opened.Device, epoch: opened.Epoch, expires: opened.Expires, passed: opened.Passed, carried: opened.Carried, method: methodIndex(opened.Method)}
		g.realm.sessions.put(key, s, gen)
	}
	if g.realm.now().Unix() >= s.expires {
		return Passed{}, false, nil
	}
	epoch, err := g.realm.epochs.get(ctx, g.realm, id.ID)
	if err != nil || epoch != s.epoch {
		return Passed{}, false, err
	}
	if s.device == "" {
		return s.facts(), true, nil
	}
	ok, err = g.deviceTrusted(ctx, id.ID, s.device)
	return s.facts(), ok, err
}

// epochCache holds each recently seen user's epoch so the hot path does
// not read the store. Change notifications drop entries; a miss reads the
// store once; after a resync each entry is read again at its next use (the
// one known stands while the store cannot answer). It is keyed by a digest
// of the user ID: 32 bytes per user, however long the IDs.
type epochCache struct {
	m    *rechecked[[16]byte, uint64]
	keys *keyedDigest
}

// noUser never matches a cookie's epoch.
const noUser = math.MaxUint64

func newEpochCache(limit int) *epochCache {
	return &epochCache{m: newRechecked[[16]byte, uint64](limit), keys: newKeyedDigest()}
}

func (c *epochCache) get(ctx context.Context, r *Realm, user string) (uint64, error) {
	return c.m.get(c.keys.of(user), func() (uint64, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		u, err := accounts.GetUser(ctx, r.backend, r.name, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return noUser, nil
		case err != nil:
			return 0, err
		}
		return u.Epoch, nil
	})
}

func (c *epochCache) forget(user string) { c.m.forget(c.keys.of(user)) }

func (c *epochCache) resync() { c.m.resync() }
