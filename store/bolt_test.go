package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/store/storetest"
)

func openBolt(t testing.TB, path string, opts store.BoltOptions) *store.Bolt {
	t.Helper()
	b, err := store.OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func TestBolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		return openBolt(t, filepath.Join(t.TempDir(), "state.db"), store.BoltOptions{})
	})
}

func TestBoltPersists(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	k := store.Key{Bucket: "users/realm a", ID: "alice"}
	counter := store.Key{Bucket: "limits", ID: "login:alice"}

	b, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, k, []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	_, resets, err := b.Incr(ctx, counter, 3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBolt(t, path, store.BoltOptions{})
	if got, err := b.Get(ctx, k); err != nil || string(got) != "v1" {
		t.Fatalf("Get after reopen = %q, %v; want %q", got, err, "v1")
	}
	n, again, err := b.Incr(ctx, counter, 1, time.Hour)
	if err != nil || n != 4 || !again.Equal(resets) {
		t.Fatalf("Incr after reopen = %d, %v, %v; want 4, %v", n, again, err, resets)
	}
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	first, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 200 * time.Millisecond
	start := time.Now()
	second, err := store.OpenBolt(path, store.BoltOptions{LockTimeout: timeout})
	if err == nil {
		second.Close()
		t.Fatal("second OpenBolt of an open file succeeded")
	}
	if waited := time.Since(start); waited > timeout+2*time.Second {
		t.Fatalf("second OpenBolt took %v with a lock timeout of %v", waited, timeout)
	}
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second OpenBolt: err = %v; want an ErrUnavailable naming the file as in use", err)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openBolt(t, path, store.BoltOptions{LockTimeout: timeout}) // free again
}

func TestBoltSweeper(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	swept := make(chan int, 100)
	b, err := store.OpenBolt(path, store.BoltOptions{
		SweepInterval: 20 * time.Millisecond,
		OnSweep: func(n int, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			if n > 0 { // only the few sweeps that delete, so this never blocks
				swept <- n
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const ttl = 100 * time.Millisecond
	expiring := []store.Key{
		{Bucket: "sessions", ID: "a"},
		{Bucket: "sessions", ID: "b"},
		{Bucket: "codes", ID: "only"},
	}
	for _, k := range expiring {
		if err := b.Put(ctx, k, []byte("x"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	kept := store.Key{Bucket: "sessions", ID: "kept"}
	if err := b.Put(ctx, kept, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Incr(ctx, store.Key{Bucket: "sessions", ID: "counter"}, 1, ttl); err != nil {
		t.Fatal(err)
	}

	total, want := 0, len(expiring)+1
	deadline := time.After(5 * time.Second)
	for total < want {
		select {
		case n := <-swept:
			total += n
		case <-deadline:
			t.Fatalf("sweeper removed %d of %d expired values", total, want)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Look at the file itself: the expired keys are gone, and so is the
	// bucket they left empty.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("codes")) != nil {
			t.Error("bucket left empty by the sweep still exists")
		}
		sessions := tx.Bucket([]byte("sessions"))
		if sessions == nil {
			t.Fatal("bucket with a live key was removed")
		}
		var ids []string
		sessions.ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
		if len(ids) != 1 || ids[0] != kept.ID {
			t.Errorf("keys left in the file: %q, want only %q", ids, kept.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBoltFileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "state.db")
	openBolt(t, path, store.BoltOptions{})
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {dir, 0o700}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("%s has mode %v, want %v", filepath.Base(c.path), got, c.mode)
		}
	}
}

func BenchmarkBoltGet(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "state.db"), store.BoltOptions{})
	ctx := context.Background()
	k := store.Key{Bucket: "users/realm", ID: "alice@example.com"}
	if err := s.Put(ctx, k, make([]byte, 512), time.Hour); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBoltUpdate(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "state.db"), store.BoltOptions{})
	ctx := context.Background()
	k := store.Key{Bucket: "users/realm", ID: "alice@example.com"}
	type counter struct{ N int }
	for b.Loop() {
		if _, err := store.UpdateJSON(ctx, s, k, func(c *counter, _ bool) (time.Duration, error) {
			c.N++
			return 0, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
