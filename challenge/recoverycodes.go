package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/recovery"
	"github.com/caddy2fa/caddy2fa/store"
)

// recoveryCodes keep each user's set: drawn after their first enrollment
// or on request, shown once, spent one at a time.
type recoveryCodes struct {
	backend store.Backend
	ring    *keyring.Ring
	keys    accounts.Keys
	policy  *policy.Snapshot
	now     func() time.Time
}

// showLifetime bounds how long a new set waits, sealed, for its page.
const showLifetime = 15 * time.Minute

// toShow is a new set waiting for its page: the codes sealed, and where
// the user goes on to.
type toShow struct {
	Sealed []byte `json:"sealed,omitempty"`
	Return string `json:"return"`
}

// offered reports whether the user may have and use recovery codes: the
// policy gives them, and the user has another method to recover.
func (rc *recoveryCodes) offered(usable []string) bool {
	return rc.policy.Current().OffersRecovery() && len(usable) > 0
}

// left is how many codes the user may still use (0 when they may not).
func (rc *recoveryCodes) left(u *accounts.User) int {
	if u.Recovery == nil || !rc.policy.Current().OffersRecovery() {
		return 0
	}
	return u.Recovery.Left()
}

// draw makes a new set for the user, to be stored in the user record by
// the caller's update and shown once with keep.
func (rc *recoveryCodes) draw(user string) ([]string, recovery.Set) {
	return recovery.New(rc.ring, rc.keys.Realm, user, rc.now())
}

// keep seals the codes of a new set for its page, which the user sees
// before going on to returnTo.
func (rc *recoveryCodes) keep(ctx context.Context, user string, codes []string, returnTo string) error {
	raw, err := json.Marshal(codes)
	if err != nil {
		return err
	}
	v := toShow{Sealed: rc.ring.Seal(raw, rc.aad(user)), Return: returnTo}
	return store.PutJSON(ctx, rc.backend, rc.keys.RecoveryShown(user), v, showLifetime)
}

// take returns the codes waiting for the user's page, once: a second call
// gets none, and the page says so. returnTo is kept for the page's form.
func (rc *recoveryCodes) take(ctx context.Context, user string) (codes []string, returnTo string, err error) {
	var sealed []byte
	v, err := store.UpdateJSON(ctx, rc.backend, rc.keys.RecoveryShown(user), func(v *toShow, exists bool) (time.Duration, error) {
		if !exists {
			return 0, store.ErrAbort
		}
		sealed, v.Sealed = v.Sealed, nil
		return showLifetime, nil
	})
	if err != nil || v == nil {
		return nil, "/", err
	}
	if sealed == nil {
		return nil, v.Return, nil
	}
	raw, err := rc.ring.Open(sealed, rc.aad(user))
	if err != nil {
		return nil, "", err
	}
	return codes, v.Return, json.Unmarshal(raw, &codes)
}

// done forgets the page's record once the user says they saved the codes.
func (rc *recoveryCodes) done(ctx context.Context, user string) (returnTo string, err error) {
	var v toShow
	err = store.GetJSON(ctx, rc.backend, rc.keys.RecoveryShown(user), &v)
	if errors.Is(err, store.ErrNotFound) {
		return "/", nil
	}
	if err != nil {
		return "", err
	}
	if err := rc.backend.Delete(ctx, rc.keys.RecoveryShown(user)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	return v.Return, nil
}

var errNoSuchCode = errors.New("no such recovery code")

// spend uses one code, in one atomic update of the user's record: of 20
// requests racing with the same code, one succeeds. It also records the
// pass. ok is false for a code that is not (or no longer) one of theirs.
func (rc *recoveryCodes) spend(ctx context.Context, user, code string) (u *accounts.User, ok bool, err error) {
	now := rc.now()
	u, err = accounts.UpdateUser(ctx, rc.backend, rc.keys.Realm, user, func(u *accounts.User) error {
		if u.Recovery == nil || !u.Recovery.Spend(rc.ring, rc.keys.Realm, user, code, now) {
			return errNoSuchCode
		}
		u.LastVerified = now.UTC()
		return nil
	})
	switch {
	case errors.Is(err, errNoSuchCode):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return u, true, nil
}

// aad binds a sealed set to its realm and user.
func (rc *recoveryCodes) aad(user string) []byte {
	return []byte("recovery\x00" + rc.keys.Realm + "\x00" + user)
}
