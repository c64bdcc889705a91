package storetest

import (
	"errors"
	"testing"

	"github.com/caddy2fa/caddy2fa/store"
)

func testPing(t *testing.T, b store.Backend) {
	if err := b.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func testClose(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	put(t, b, k, "v", 0)
	sub := b.Subscribe(ctx)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, sub)
	if _, err := b.Get(ctx, k); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get after Close: err = %v, want ErrUnavailable", err)
	}
	if err := b.Put(ctx, k, []byte("v"), 0); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Put after Close: err = %v, want ErrUnavailable", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping after Close: err = %v, want ErrUnavailable", err)
	}
	if err := b.Publish(ctx, store.Change{Kind: store.ChangeResync}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Publish after Close: err = %v, want ErrUnavailable", err)
	}
	for way, lb := range listManyWays(b) {
		if _, err := store.ListMany(ctx, lb, []string{"b"}, 10); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: ListMany after Close: err = %v, want ErrUnavailable", way, err)
		}
	}
	waitClosed(t, b.Subscribe(ctx))
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
