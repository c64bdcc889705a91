package challenge

import (
	"context"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// Operations admins (and operators) run on users: plain functions on the
// store, shared by the admin page, its JSON API and Caddy's admin endpoint.

// UserSummary is one row of the admin users table.
type UserSummary struct {
	ID             string    `json:"id"`
	Email          string    `json:"email,omitempty"`
	Name           string    `json:"name,omitempty"`
	Methods        []string  `json:"methods"`
	Preferred      string    `json:"preferred,omitempty"`
	LastVerified   time.Time `json:"last_verified,omitzero"`
	LastSeen       time.Time `json:"last_seen,omitzero"`
	TrustedDevices int       `json:"trusted_devices"`
	// Locked: code entry is held until unlocked (the lock ladder's last
	// step).
	Locked bool `json:"locked"`
}

// LadderKey is where a user's lock ladder is kept.
func LadderKey(realm, user string) store.Key {
	return store.Key{Bucket: "ladder/" + realm, ID: user}
}

// ListUsers returns up to limit users after the ID after, in ID order,
// and the ID to continue from ("" when this was the last page).
func ListUsers(ctx context.Context, b store.Backend, realm, after string, limit int) ([]UserSummary, string, error) {
	limit = min(max(limit, 1), store.MaxListLimit)
	entries, err := b.List(ctx, accounts.Keys{Realm: realm}.UsersBucket(), after, limit, false)
	if err != nil {
		return nil, "", err
	}
	out := make([]UserSummary, 0, len(entries))
	ladders := make([]store.Key, len(entries))
	for i, e := range entries {
		ladders[i] = LadderKey(realm, e.ID)
	}
	held, err := store.GetMany(ctx, b, ladders...)
	if err != nil {
		return nil, "", err
	}
	for i, e := range entries {
		var u accounts.User
		if jsonUnmarshal(e.Value, &u) != nil {
			continue
		}
		row := UserSummary{ID: u.ID, Email: u.Email, Name: u.Name, Preferred: u.Preferred, LastVerified: u.LastVerified, LastSeen: u.LastSeen, Methods: []string{}}
		for _, m := range u.Methods {
			row.Methods = append(row.Methods, m.Method)
		}
		devs, err := ListDevices(ctx, b, realm, u.ID)
		if err != nil {
			return nil, "", err
		}
		row.TrustedDevices = len(devs)
		var state verify.LadderState
		row.Locked = held[i] != nil && jsonUnmarshal(held[i], &state) == nil && state.Hard
		out = append(out, row)
	}
	next := ""
	if len(entries) == limit {
		next = entries[len(entries)-1].ID
	}
	return out, next, nil
}

// ErrNoSuchUser: the gateway has never seen that user.
var ErrNoSuchUser = errors.New("no such user")

// ResetUser removes a user's enrolled methods, trusted devices and
// sessions: they set up two-factor authentication again at next login.
func ResetUser(ctx context.Context, b store.Backend, realm, user string) (*accounts.User, error) {
	if _, err := accounts.GetUser(ctx, b, realm, user); errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchUser
	} else if err != nil {
		return nil, err
	}
	if _, err := RevokeDevices(ctx, b, realm, user, nil, ""); err != nil {
		return nil, err
	}
	if err := UnlockUser(ctx, b, realm, user); err != nil {
		return nil, err
	}
	u, err := accounts.UpdateUser(ctx, b, realm, user, func(u *accounts.User) error {
		u.Methods = nil
		u.Preferred = ""
		u.Epoch++
		return nil
	})
	if err != nil {
		return nil, err
	}
	store.Announce(ctx, b, store.Change{Kind: store.ChangeUser, Realm: realm, ID: user})
	return u, nil
}

// UnlockUser lifts the hold on a user's code entry: the lock ladder starts
// over and the per-user window is cleared. It gives no access by itself.
func UnlockUser(ctx context.Context, b store.Backend, realm, user string) error {
	for _, k := range []store.Key{LadderKey(realm, user), {Bucket: "fail-user/" + realm, ID: user}} {
		if err := b.Delete(ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
