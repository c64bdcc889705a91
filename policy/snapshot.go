package policy

import (
	"context"
	"sync/atomic"

	"github.com/caddy2fa/caddy2fa/store"
)

// Snapshot keeps a realm's current policy in memory so the hot path reads
// no store. Refresh it when a ChangePolicy notification arrives.
type Snapshot struct {
	backend store.Backend
	realm   string
	initial Policy
	current atomic.Pointer[Policy]
}

// NewSnapshot starts with the configured initial policy (used while the
// store has none). Call Refresh before serving.
func NewSnapshot(b store.Backend, realm string, initial Policy) *Snapshot {
	s := &Snapshot{backend: b, realm: realm, initial: initial}
	p := initial
	s.current.Store(&p)
	return s
}

// Current is the policy in force. Never nil; do not modify it.
func (s *Snapshot) Current() *Policy { return s.current.Load() }

// Initial is the configured policy, in force while the store holds none.
func (s *Snapshot) Initial() Policy { return s.initial }

// Realm names the realm the snapshot follows.
func (s *Snapshot) Realm() string { return s.realm }

// Refresh reloads the policy from the store. When the store cannot be read
// the policy counts as enforced (fail closed) until a refresh succeeds.
func (s *Snapshot) Refresh(ctx context.Context) error {
	p, found, err := Load(ctx, s.backend, s.realm)
	if err != nil {
		cur := *s.current.Load()
		if !cur.Enabled {
			cur.Enabled = true
			if len(cur.Methods) == 0 {
				cur.Methods = s.initial.Methods
			}
			s.current.Store(&cur)
		}
		return err
	}
	if !found {
		p = s.initial
	}
	s.current.Store(&p)
	return nil
}
