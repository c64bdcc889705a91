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

// users reads and records the user a page is for.
type users struct {
	backend store.Backend
	keys    accounts.Keys
	now     func() time.Time
	reads   readAhead
}

// get returns the user's record, recording the user first if the store
// has none.
func (us *users) get(r *http.Request, id identity.Identity) (*accounts.User, error) {
	u := new(accounts.User)
	err := us.reads.getJSON(r.Context(), us.keys.User(id.ID), u)
	if errors.Is(err, store.ErrNotFound) {
		return us.remember(r.Context(), id)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// remember records what the identity source says about a user.
func (us *users) remember(ctx context.Context, id identity.Identity) (*accounts.User, error) {
	return accounts.RememberUser(ctx, us.backend, us.keys.Realm, id, us.now())
}
