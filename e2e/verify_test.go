package e2e

import (
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify/verifytest"
)

// The attempt rules on a real Redis: reservations are atomic there too.
func TestAttemptRulesOnRedis(t *testing.T) {
	peer := testpeer.Redis(t)
	verifytest.Run(t, func(t *testing.T) store.Backend {
		// Each check on keys of its own. A generous per-operation limit: a loaded machine must not fail
		// the test for being slow.
		b, err := store.OpenRedis(t.Context(), store.RedisOptions{URL: peer.URL(), KeyPrefix: t.Name() + ":", Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}
