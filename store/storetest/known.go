package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// testUpdateWithKnownValues: whatever a context claims about a key, Update
// decides on the stored value; a stale, wrong or absent guess only costs a
// retry.
func testUpdateWithKnownValues(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "known", ID: "k"}
	put(t, b, k, "stored", 0)
	for _, tc := range []struct {
		name  string
		guess []byte
	}{
		{"stale", []byte("stale")},
		{"absent", nil},
		{"right", []byte("stored")},
	} {
		put(t, b, k, "stored", 0)
		var seen []string
		gctx := store.WithKnownValues(ctx, map[store.Key][]byte{k: tc.guess})
		got, err := b.Update(gctx, k, func(old []byte) ([]byte, time.Duration, error) {
			seen = append(seen, string(old))
			if string(old) != "stored" {
				// An answer a wrong guess would give must not stand.
				return nil, 0, errors.New("refused on " + string(old))
			}
			return []byte("updated"), 0, nil
		})
		if err != nil || string(got) != "updated" {
			t.Errorf("%s guess: Update = %q, %v (fn saw %q)", tc.name, got, err, seen)
		}
		if v, err := b.Get(ctx, k); err != nil || string(v) != "updated" {
			t.Errorf("%s guess: stored %q, %v", tc.name, v, err)
		}
	}
	// A guess that the key exists, when it does not: nothing is written.
	gone := store.Key{Bucket: "known", ID: "gone"}
	gctx := store.WithKnownValues(ctx, map[store.Key][]byte{gone: []byte("ghost")})
	if _, err := b.Update(gctx, gone, func(old []byte) ([]byte, time.Duration, error) {
		if old != nil {
			return nil, 0, store.ErrAbort
		}
		return []byte("created"), 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, gone); err != nil || string(v) != "created" {
		t.Errorf("after a guess that an absent key existed: %q, %v", v, err)
	}
}
