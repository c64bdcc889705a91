package store

import (
	"context"
	"time"
)

// AnnounceRetryFor bounds how long Announce keeps trying.
const AnnounceRetryFor = 2 * time.Minute

// Announce publishes a change to every instance. When the publish fails it
// keeps trying in the background (up to AnnounceRetryFor): a revocation or
// reset that other instances never hear of would leave their caches
// trusting what was revoked. It reports whether the first try succeeded.
func Announce(ctx context.Context, b Backend, c Change) bool {
	if b.Publish(ctx, c) == nil {
		return true
	}
	go func() {
		ctx := context.WithoutCancel(ctx)
		deadline := time.Now().Add(AnnounceRetryFor)
		for wait := 100 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 5*time.Second) {
			time.Sleep(wait)
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := b.Publish(tctx, c)
			cancel()
			if err == nil {
				return
			}
		}
	}()
	return false
}
