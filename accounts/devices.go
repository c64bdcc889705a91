package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Trusted devices ("remember me"): the browser holds a device cookie, the
// store the record; removing the record (or a new epoch of the user) ends
// the trust on every instance.

// Device is one trusted device of a user.
type Device struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	UserAgent string    `json:"user_agent"` // readable browser and OS
	IP        string    `json:"ip"`
}

// PutDevice records a trusted device for ttl.
func PutDevice(ctx context.Context, b store.Backend, realm string, d Device, ttl time.Duration) error {
	return store.PutJSON(ctx, b, Keys{realm}.Device(d.User, d.ID), d, ttl)
}

// DeviceCreated returns when a device of the user was trusted, or the zero
// time when it is not (any more).
func DeviceCreated(ctx context.Context, b store.Backend, realm, user, id string) (time.Time, error) {
	var d Device
	err := store.GetJSON(ctx, b, Keys{realm}.Device(user, id), &d)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, err
	}
	return d.Created, nil
}

// TouchDevice records a device's use, at most hourly; a device older than
// rememberFor goes.
func TouchDevice(ctx context.Context, b store.Backend, realm, user, id string, now time.Time, rememberFor time.Duration) error {
	_, err := store.UpdateJSON(ctx, b, Keys{realm}.Device(user, id), func(d *Device, exists bool) (time.Duration, error) {
		if !exists || now.Sub(d.LastUsed) < time.Hour {
			return 0, store.ErrAbort
		}
		d.LastUsed = now
		left := d.Created.Add(rememberFor).Sub(now)
		if left <= 0 {
			return 0, store.ErrDelete
		}
		return left, nil
	})
	return err
}

// ListDevices returns a user's trusted devices, newest first.
func ListDevices(ctx context.Context, b store.Backend, realm, user string) ([]Device, error) {
	var out []Device
	after := ""
	for {
		entries, err := b.List(ctx, Keys{realm}.DevicesBucket(user), after, store.MaxListLimit, false)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			var d Device
			if err := json.Unmarshal(e.Value, &d); err == nil {
				out = append(out, d)
			}
			after = e.ID
		}
		if len(entries) < store.MaxListLimit {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// RevokeDevices removes a user's trusted devices (all of them when ids is
// empty, except keep) and tells every instance.
func RevokeDevices(ctx context.Context, b store.Backend, realm, user string, ids []string, keep string) (int, error) {
	if len(ids) == 0 {
		all, err := ListDevices(ctx, b, realm, user)
		if err != nil {
			return 0, err
		}
		for _, d := range all {
			ids = append(ids, d.ID)
		}
	}
	n := 0
	for _, id := range ids {
		if id == keep {
			continue
		}
		if err := b.Delete(ctx, Keys{realm}.Device(user, id)); err != nil {
			return n, err
		}
		n++
		store.Announce(ctx, b, store.Change{Kind: store.ChangeDevice, Realm: realm, ID: id})
	}
	return n, nil
}
