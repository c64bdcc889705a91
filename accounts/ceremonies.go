package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/store"
)

// Ceremony is a passkey ceremony between the options a page gave the
// browser and the browser's answer: server-side, bound to its open
// challenge (and so to the user and the app session), single use.
type Ceremony struct {
	User string `json:"user"`
	App  string `json:"app,omitempty"` // binding of the app session
	// Register: a new key (named Name); otherwise a sign-in.
	Register bool            `json:"register,omitempty"`
	Name     string          `json:"name,omitempty"`
	Session  passkey.Session `json:"session"`
}

// PutCeremony starts a flow's ceremony, replacing any earlier one: only the
// newest page's answer can finish.
func PutCeremony(ctx context.Context, b store.Backend, realm, flow string, c *Ceremony) error {
	return store.PutJSON(ctx, b, Keys{realm}.Ceremony(flow), c, passkey.CeremonyLifetime)
}

// ErrNoCeremony: the flow has no open ceremony (finished, expired, never
// begun).
var ErrNoCeremony = errors.New("no passkey ceremony is open")

// TakeCeremony ends a flow's ceremony and returns it: of two answers to
// one ceremony, one gets it.
func TakeCeremony(ctx context.Context, b store.Backend, realm, flow string) (*Ceremony, error) {
	var taken *Ceremony
	_, err := store.UpdateJSON(ctx, b, Keys{realm}.Ceremony(flow), func(c *Ceremony, exists bool) (time.Duration, error) {
		if !exists {
			return 0, store.ErrAbort
		}
		cp := *c
		taken = &cp
		return 0, store.ErrDelete
	})
	if err != nil {
		return nil, err
	}
	if taken == nil {
		return nil, ErrNoCeremony
	}
	return taken, nil
}
