package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Operations admins (and operators) run on users: plain functions on the
// store, shared by the admin page, its JSON API and Caddy's admin endpoint.

// UserSummary is one row of the admin users table.
type UserSummary struct {
	ID      string   `json:"id"`
	Email   string   `json:"email,omitempty"`
	Name    string   `json:"name,omitempty"`
	Methods []string `json:"methods"`
	// MethodDetails say when each method was set up and last used; never
	// a secret, an address or a code.
	MethodDetails  []MethodSummary `json:"method_details"`
	Preferred      string          `json:"preferred,omitempty"`
	LastVerified   time.Time       `json:"last_verified,omitzero"`
	LastSeen       time.Time       `json:"last_seen,omitzero"`
	TrustedDevices int             `json:"trusted_devices"`
	// Locked: code entry is held until unlocked (the lock ladder's last
	// step).
	Locked bool `json:"locked"`
}

// MethodSummary is one of a user's methods, as admins see it.
type MethodSummary struct {
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	// Left is how many recovery codes are unused (recovery only).
	Left *int `json:"left,omitempty"`
}

// MethodSummaries are the user's methods for admins, recovery codes last.
func (u *User) MethodSummaries() []MethodSummary {
	out := make([]MethodSummary, 0, len(u.Methods)+1)
	for _, m := range u.Methods {
		out = append(out, MethodSummary{Kind: m.Method, Created: m.EnrolledAt, LastUsed: m.LastUsed})
	}
	if u.Recovery != nil {
		left, last := u.Recovery.Left(), time.Time{}
		for _, c := range u.Recovery.Codes {
			if c.Used.After(last) {
				last = c.Used
			}
		}
		out = append(out, MethodSummary{Kind: "recovery", Created: u.Recovery.Created, LastUsed: last, Left: &left})
	}
	return out
}

// ListUsers returns up to limit users after the ID after, in ID order,
// and the ID to continue from ("" when this was the last page).
func ListUsers(ctx context.Context, b store.Backend, realm, after string, limit int) ([]UserSummary, string, error) {
	limit = min(max(limit, 1), store.MaxListLimit)
	entries, err := b.List(ctx, Keys{Realm: realm}.UsersBucket(), after, limit, false)
	if err != nil {
		return nil, "", err
	}
	out := make([]UserSummary, 0, len(entries))
	ladders := make([]store.Key, len(entries))
	for i, e := range entries {
		ladders[i] = Keys{realm}.Ladder(e.ID)
	}
	held, err := store.GetMany(ctx, b, ladders...)
	if err != nil {
		return nil, "", err
	}
	buckets := make([]string, 0, len(entries)) // each row's devices
	for i, e := range entries {
		var u User
		if json.Unmarshal(e.Value, &u) != nil {
			continue
		}
		row := UserSummary{ID: u.ID, Email: u.Email, Name: u.Name, Preferred: u.Preferred, LastVerified: u.LastVerified, LastSeen: u.LastSeen, Methods: []string{}}
		for _, m := range u.Methods {
			row.Methods = append(row.Methods, m.Method)
		}
		row.MethodDetails = u.MethodSummaries()
		var state LadderState
		row.Locked = held[i] != nil && json.Unmarshal(held[i], &state) == nil && state.Hard
		out = append(out, row)
		buckets = append(buckets, Keys{realm}.DevicesBucket(u.ID))
	}
	// Every row's devices in one read, not one read per user.
	devices, err := store.ListMany(ctx, b, buckets, store.MaxListLimit)
	if err != nil {
		return nil, "", err
	}
	for j := range out {
		if out[j].TrustedDevices, err = countDevices(ctx, b, realm, out[j].ID, devices[j]); err != nil {
			return nil, "", err
		}
	}
	next := ""
	if len(entries) == limit {
		next = entries[len(entries)-1].ID
	}
	return out, next, nil
}

// countDevices counts what ListDevices would return, from the first page
// of the user's devices: the records that decode. A full page may not be
// all of them; then ListDevices reads the rest.
func countDevices(ctx context.Context, b store.Backend, realm, user string, page []store.Entry) (int, error) {
	if len(page) >= store.MaxListLimit {
		devs, err := ListDevices(ctx, b, realm, user)
		return len(devs), err
	}
	n := 0
	for _, e := range page {
		var d Device
		if json.Unmarshal(e.Value, &d) == nil {
			n++
		}
	}
	return n, nil
}

// ErrNoSuchUser: the gateway has never seen that user.
var ErrNoSuchUser = errors.New("no such user")

// ResetUser removes a user's enrolled methods, trusted devices and
// sessions: they set up two-factor authentication again at next login.
func ResetUser(ctx context.Context, b store.Backend, realm, user string) (*User, error) {
	if _, err := GetUser(ctx, b, realm, user); errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchUser
	} else if err != nil {
		return nil, err
	}
	if err := UnlockUser(ctx, b, realm, user); err != nil {
		return nil, err
	}
	u, err := EndSessions(ctx, b, realm, user, "", func(u *User) {
		u.Methods = nil
		u.Preferred = ""
		u.Recovery = nil
		u.Passkeys = nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// LadderState is a user's place on the ladder.
type LadderState struct {
	Streak int       `json:"s"`          // wrong codes (attempts) in a row
	Until  time.Time `json:"u,omitzero"` // held until
	Hard   bool      `json:"h,omitempty"`
}

// UnlockUser lifts the hold on a user's code entry: the lock ladder starts
// over and the per-user window is cleared. It gives no access by itself.
func UnlockUser(ctx context.Context, b store.Backend, realm, user string) error {
	for _, k := range []store.Key{Keys{realm}.Ladder(user), Keys{realm}.UserFailures(user)} {
		if err := b.Delete(ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
