package verify_test

import (
	"path/filepath"
	"testing"

	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify/verifytest"
)

// The attempt rules on the embedded store; the end-to-end tests run them
// on Redis.
func TestAttemptRulesOnBolt(t *testing.T) {
	verifytest.Run(t, func(t *testing.T) store.Backend {
		b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}
