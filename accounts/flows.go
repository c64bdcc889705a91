package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Flow is one open challenge: who it is for, where they were going (kept
// here, server-side, so no client-supplied URL is ever redirected to), and
// its state.
type Flow struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	App     string    `json:"app,omitempty"` // binding of the app session
	Return  string    `json:"return"`
	Created time.Time `json:"created"`
	// StepUp: the user passed 2FA already and is asked for a fresh code
	// before a sensitive change.
	StepUp bool `json:"step_up,omitempty"`
	// Within is how recent the code must be for a step-up path (seconds);
	// 0: the pages' own window.
	Within int64 `json:"within,omitempty"`
	// PendingSecret is the sealed TOTP seed being enrolled.
	PendingSecret []byte `json:"pending_secret,omitempty"`
}

// PutFlow keeps a new flow for lifetime.
func PutFlow(ctx context.Context, b store.Backend, realm string, f *Flow, lifetime time.Duration) error {
	return store.PutJSON(ctx, b, Keys{realm}.Flow(f.ID), f, lifetime)
}

// GetFlow reads a flow; store.ErrNotFound when it is over.
func GetFlow(ctx context.Context, b store.Backend, realm, id string) (*Flow, error) {
	f := new(Flow)
	if err := store.GetJSON(ctx, b, Keys{realm}.Flow(id), f); err != nil {
		return nil, err
	}
	return f, nil
}

// UpdateFlow edits an open flow, which keeps the end it had; store.ErrNotFound
// when it is over.
func UpdateFlow(ctx context.Context, b store.Backend, realm, id string, lifetime time.Duration, now time.Time, fn func(*Flow) error) (*Flow, error) {
	f, err := store.UpdateJSON(ctx, b, Keys{realm}.Flow(id), func(f *Flow, exists bool) (time.Duration, error) {
		if !exists {
			return 0, store.ErrNotFound
		}
		if err := fn(f); err != nil {
			return 0, err
		}
		left := f.Created.Add(lifetime).Sub(now)
		if left <= 0 {
			return 0, store.ErrDelete
		}
		return left, nil
	})
	if err == nil && f == nil {
		return nil, store.ErrNotFound
	}
	return f, err
}

// DeleteFlow ends a flow.
func DeleteFlow(ctx context.Context, b store.Backend, realm, id string) error {
	err := b.Delete(ctx, Keys{realm}.Flow(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
