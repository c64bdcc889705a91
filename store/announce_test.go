package store_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// flakyPublisher fails its first publishes, as a Redis connection that
// drops for a moment would.
type flakyPublisher struct {
	store.Backend
	failures atomic.Int32
}

func (f *flakyPublisher) Publish(ctx context.Context, c store.Change) error {
	if f.failures.Add(-1) >= 0 {
		return store.ErrUnavailable
	}
	return f.Backend.Publish(ctx, c)
}

func TestAnnounceRetriesSoARevocationIsNotLost(t *testing.T) {
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "a.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := &flakyPublisher{Backend: b}
	f.failures.Store(3)
	changes := b.Subscribe(t.Context())
	if store.Announce(t.Context(), f, store.Change{Kind: store.ChangeDevice, Realm: "r", ID: "d1"}) {
		t.Fatal("the first publish should have failed")
	}
	select {
	case c := <-changes:
		if c.ID != "d1" {
			t.Fatalf("got %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failed announcement was never retried")
	}
}
