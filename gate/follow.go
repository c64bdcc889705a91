package gate

import (
	"context"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Start subscribes to change notifications first, then reads the policy,
// then follows changes in the background until ctx ends: a change made
// between the read and the subscription cannot be missed.
func (r *Realm) Start(ctx context.Context) { go r.Watch(ctx)() }

// Watch is Start for a caller that runs the following itself: it
// subscribes and reads the policy now, and returns the loop that follows
// changes until ctx ends.
func (r *Realm) Watch(ctx context.Context) (follow func()) {
	changes := r.backend.Subscribe(ctx)
	r.refreshPolicy(ctx)
	return func() { r.follow(ctx, changes) }
}

// Run follows change notifications until ctx ends (Start without the
// first read).
func (r *Realm) Run(ctx context.Context) { r.follow(ctx, r.backend.Subscribe(ctx)) }

func (r *Realm) follow(ctx context.Context, changes <-chan store.Change) {
	for c := range changes {
		r.apply(ctx, c)
	}
}

// apply keeps the caches true to a change made anywhere.
func (r *Realm) apply(ctx context.Context, c store.Change) {
	switch {
	case c.Kind == store.ChangeResync:
		r.epochs.resync()
		r.devices.resync()
		r.refreshPolicy(ctx)
	case c.Realm != r.name:
	case c.Kind == store.ChangePolicy:
		r.refreshPolicy(ctx)
	case c.Kind == store.ChangeUser:
		r.epochs.forget(c.ID)
	case c.Kind == store.ChangeDevice:
		r.devices.forget(c.ID)
	}
}

// Forget drops what the realm's gates know of a user (after this instance
// changed them: the notification comes too, a little later).
func (r *Realm) Forget(user string) { r.epochs.forget(user) }

func (r *Realm) refreshPolicy(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.policy.Refresh(ctx); err != nil {
		r.logger.Error("cannot read the org policy; enforcing 2FA until it can be read", "realm", r.name, "error", err)
	}
}
