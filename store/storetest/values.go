package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

func testGetMissing(t *testing.T, b store.Backend) {
	ctx := t.Context()
	if _, err := b.Get(ctx, store.Key{Bucket: "nobucket", ID: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get in missing bucket: err = %v, want ErrNotFound", err)
	}
	put(t, b, store.Key{Bucket: "b", ID: "present"}, "v", 0)
	if _, err := b.Get(ctx, store.Key{Bucket: "b", ID: "absent"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of missing ID: err = %v, want ErrNotFound", err)
	}
}

func testPutGet(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	value := []byte("hello")
	if err := b.Put(ctx, k, value, 0); err != nil {
		t.Fatal(err)
	}
	value[0] = 'J' // the backend must have kept its own copy
	got := get(t, b, k)
	if string(got) != "hello" {
		t.Fatalf("Get = %q, want %q", got, "hello")
	}
	got[0] = 'Y' // and hand out copies
	if got := get(t, b, k); string(got) != "hello" {
		t.Fatalf("Get after modifying a returned value = %q, want %q", got, "hello")
	}
	binary := []byte{0, 1, 2, 0xff, 0xfe, 0}
	k2 := store.Key{Bucket: "b", ID: "binary"}
	if err := b.Put(ctx, k2, binary, 0); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, k2); !bytes.Equal(got, binary) {
		t.Fatalf("Get binary = %x, want %x", got, binary)
	}
}

func testOverwrite(t *testing.T, b store.Backend) {
	k := store.Key{Bucket: "b", ID: "k"}
	put(t, b, k, "one", 0)
	put(t, b, k, "two", 0)
	if got := get(t, b, k); string(got) != "two" {
		t.Fatalf("Get = %q, want %q", got, "two")
	}
}

func testEmptyValue(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "empty"}
	put(t, b, k, "", 0)
	got, err := b.Get(ctx, k)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get of empty value = %#v, %v; want []byte{}, nil", got, err)
	}
	var sawNil bool
	if _, err := b.Update(ctx, k, func(old []byte) ([]byte, time.Duration, error) {
		sawNil = old == nil
		return nil, 0, store.ErrAbort
	}); err != nil {
		t.Fatal(err)
	}
	if sawNil {
		t.Fatal("Update passed nil for a present empty value")
	}
	if ok, err := b.PutIfAbsent(ctx, k, []byte("x"), 0); err != nil || ok {
		t.Fatalf("PutIfAbsent over empty value = %v, %v; want false, nil", ok, err)
	}
}

// testExpiry checks that expired values are invisible to every method, and
// that values without TTL (or whose TTL was replaced by none) stay.
func testExpiry(t *testing.T, b store.Backend) {
	ctx := t.Context()
	key := func(id string) store.Key { return store.Key{Bucket: "ttl", ID: id} }

	// Everything that must expire is written before "last", with the same
	// TTL: once "last" has expired, so has all of it.
	put(t, b, key("kept"), "kept", 0)
	put(t, b, key("replaced"), "old", shortTTL)
	put(t, b, key("replaced"), "new", 0) // a Put without TTL clears the TTL
	for _, id := range []string{"get", "take", "update", "ifabsent", "list"} {
		put(t, b, key(id), id, shortTTL)
	}
	if _, err := b.Update(ctx, key("viaupdate"), func([]byte) ([]byte, time.Duration, error) {
		return []byte("u"), shortTTL, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Incr(ctx, key("counter"), 5, shortTTL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	put(t, b, key("last"), "last", shortTTL)
	_, err := b.Get(ctx, key("last"))
	if errors.Is(err, store.ErrNotFound) && time.Since(start) < shortTTL {
		t.Fatal("value gone before its TTL")
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}

	waitNotFound(t, b, key("last"))
	if time.Since(start) < shortTTL-clockSlack {
		t.Fatalf("value expired after %v, before its TTL of %v", time.Since(start), shortTTL)
	}

	for _, id := range []string{"get", "viaupdate"} {
		if _, err := b.Get(ctx, key(id)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%s) after expiry: err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := b.Get(ctx, key("counter")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of expired counter: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Take(ctx, key("take")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Take after expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Update(ctx, key("update"), func(old []byte) ([]byte, time.Duration, error) {
		if old != nil {
			t.Errorf("Update after expiry saw %q, want nil", old)
		}
		return nil, 0, store.ErrAbort
	}); err != nil {
		t.Error(err)
	}
	if ok, err := b.PutIfAbsent(ctx, key("ifabsent"), []byte("fresh"), 0); err != nil || !ok {
		t.Errorf("PutIfAbsent after expiry = %v, %v; want true, nil", ok, err)
	}
	if n, _, err := b.Incr(ctx, key("counter"), 1, time.Minute); err != nil || n != 1 {
		t.Errorf("Incr after expiry = %d, %v; want 1, nil", n, err)
	}
	if got := ids(list(t, b, "ttl", "", 100, false)); !slices.Equal(got, []string{"counter", "ifabsent", "kept", "replaced"}) {
		t.Errorf("List after expiry = %q, want the live keys only", got)
	}
	if got := get(t, b, key("replaced")); string(got) != "new" {
		t.Errorf("Get(replaced) = %q, want %q", got, "new")
	}
}

func testInvalidInput(t *testing.T, b store.Backend) {
	ctx := t.Context()
	for _, k := range []store.Key{
		{Bucket: "", ID: "a"},
		{Bucket: "b", ID: ""},
		{Bucket: "b\x00c", ID: "a"},
		{Bucket: "b", ID: "a\x00"},
	} {
		err := b.Put(ctx, k, []byte("v"), 0)
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Put(%q): err = %v, want a non-ErrUnavailable error", k, err)
		}
		if _, err := b.Get(ctx, k); err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Get(%q): err = %v, want an invalid-key error", k, err)
		}
	}
	k := store.Key{Bucket: "b", ID: "k"}
	if err := b.Put(ctx, k, []byte("v"), -time.Second); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Put with negative TTL: err = %v, want a non-ErrUnavailable error", err)
	}
	if _, err := b.List(ctx, "b", "", 0, false); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("List with limit 0: err = %v, want a non-ErrUnavailable error", err)
	}
	if _, err := b.List(ctx, "", "", 1, false); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("List of empty bucket name: err = %v, want a non-ErrUnavailable error", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Get(cancelled, k); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled ctx: err = %v, want context.Canceled", err)
	}
}
