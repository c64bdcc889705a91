package accounts

import (
	"context"

	"github.com/caddy2fa/caddy2fa/store"
)

// EndSessions ends every session and trusted device of a user but the
// device keep (""): the devices' records go, the user's epoch moves on (a
// cookie of an older epoch opens nothing), and every instance is told.
// change, when set, edits the user in the same update (a new method, a
// reset). It is the one way to end a user's sessions: a reset, a new
// method and "sign out other devices" all come here.
func EndSessions(ctx context.Context, b store.Backend, realm, user, keep string, change func(*User)) (*User, error) {
	if _, err := RevokeDevices(ctx, b, realm, user, nil, keep); err != nil {
		return nil, err
	}
	u, err := UpdateUser(ctx, b, realm, user, func(u *User) error {
		if change != nil {
			change(u)
		}
		u.Epoch++
		return nil
	})
	if err != nil {
		return nil, err
	}
	store.Announce(ctx, b, store.Change{Kind: store.ChangeUser, Realm: realm, ID: user})
	return u, nil
}
