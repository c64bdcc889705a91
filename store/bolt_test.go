package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	// Look at the file itself: the expired keys are gone, and so is the
	// bucket they left empty.
	inClosedFile(t, b, path, func(tx *bbolt.Tx) {
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
		if n := countKeys(tx.Bucket([]byte("\x00expiry"))); n != 0 {
			t.Errorf("%d expiry index entries left after every value they index was swept", n)
		}
	})
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

// BenchmarkBoltSweepNothingDue is the background sweep of a file with
// 100,000 users (no expiry) and 100,000 audit entries (kept a year) when
// nothing has expired: what every sweep interval costs a large site.
func BenchmarkBoltSweepNothingDue(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "state.db"), store.BoltOptions{SweepInterval: -1})
	ctx := context.Background()
	const n, chunk = 100_000, 10_000
	for from := 0; from < n; from += chunk {
		var items []store.BatchItem
		for i := from; i < from+chunk; i++ {
			items = append(items,
				store.BatchItem{Key: store.Key{Bucket: "users/realm", ID: fmt.Sprintf("user%06d@example.com", i)}, Value: make([]byte, 300)},
				store.BatchItem{Key: store.Key{Bucket: "audit/realm", ID: fmt.Sprintf("%019d", i)}, Value: make([]byte, 150), TTL: 365 * 24 * time.Hour})
		}
		if _, err := s.PutIfAbsentBatch(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if n, err := s.Sweep(); err != nil || n != 0 {
			b.Fatalf("sweep deleted %d: %v", n, err)
		}
	}
}

// inClosedFile closes b and looks at its file directly, read-only.
func inClosedFile(t *testing.T, b *store.Bolt, path string, look func(tx *bbolt.Tx)) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		look(tx)
		return nil
	})
}

func countKeys(bk *bbolt.Bucket) int {
	n := 0
	if bk != nil {
		bk.ForEach(func(_, _ []byte) error { n++; return nil })
	}
	return n
}

// A value rewritten after it was first stored keeps its new expiry (or
// none): the sweep of its first expiry must not delete it.
func TestBoltSweepKeepsValuesRewrittenSince(t *testing.T) {
	ctx := t.Context()
	b := openBolt(t, filepath.Join(t.TempDir(), "state.db"), store.BoltOptions{SweepInterval: -1})
	longer := store.Key{Bucket: "flows", ID: "longer"}
	forever := store.Key{Bucket: "flows", ID: "forever"}
	gone := store.Key{Bucket: "flows", ID: "gone"}
	for _, k := range []store.Key{longer, forever, gone} {
		if err := b.Put(ctx, k, []byte("first"), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, longer, []byte("second"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, forever, func([]byte) ([]byte, time.Duration, error) { return []byte("second"), 0, nil }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if n, err := b.Sweep(); err != nil || n != 1 {
		t.Fatalf("sweep deleted %d values (%v), want only %q", n, err, gone.ID)
	}
	for _, k := range []store.Key{longer, forever} {
		if v, err := b.Get(ctx, k); err != nil || string(v) != "second" {
			t.Errorf("%s after the sweep: %q, %v", k.ID, v, err)
		}
	}
	if _, err := b.Get(ctx, gone); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired value still there: %v", err)
	}
}

// A bucket per user (devices) goes when its last value is deleted, as it
// does when its last value expires.
func TestBoltDeleteDropsEmptiedBucket(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	b := openBolt(t, path, store.BoltOptions{SweepInterval: -1})
	k := store.Key{Bucket: "devices/realm/alice", ID: "laptop"}
	if err := b.Put(ctx, k, []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if entries, err := b.List(ctx, k.Bucket, "", 10, false); err != nil || len(entries) != 0 {
		t.Fatalf("list after delete: %v, %v", entries, err)
	}
	inClosedFile(t, b, path, func(tx *bbolt.Tx) {
		if tx.Bucket([]byte(k.Bucket)) != nil {
			t.Error("the emptied bucket is still in the file")
		}
	})
}

// A file written before the expiry index existed gets it on its first
// open: its expired values are swept, and the others stay until due.
func TestBoltIndexesFileWrittenWithoutIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stored := func(value string, exp time.Time) []byte {
		raw := make([]byte, 8, 8+len(value))
		if !exp.IsZero() {
			binary.BigEndian.PutUint64(raw, uint64(exp.UnixNano()))
		}
		return append(raw, value...)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		codes, _ := tx.CreateBucket([]byte("codes"))
		users, _ := tx.CreateBucket([]byte("users/realm"))
		for i := range 25_000 { // more than one indexing transaction
			users.Put(fmt.Appendf(nil, "user%05d", i), stored("{}", time.Time{}))
		}
		codes.Put([]byte("expired"), stored("1", time.Now().Add(-time.Minute)))
		codes.Put([]byte("live"), stored("2", time.Now().Add(time.Hour)))
		return users.Put([]byte("user99999"), stored("{}", time.Now().Add(-time.Minute)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	b := openBolt(t, path, store.BoltOptions{SweepInterval: -1})
	if n, err := b.Sweep(); err != nil || n != 2 {
		t.Fatalf("sweep of the newly indexed file deleted %d (%v), want 2", n, err)
	}
	ctx := t.Context()
	if v, err := b.Get(ctx, store.Key{Bucket: "codes", ID: "live"}); err != nil || string(v) != "2" {
		t.Fatalf("live value: %q, %v", v, err)
	}
	if v, err := b.Get(ctx, store.Key{Bucket: "users/realm", ID: "user24999"}); err != nil || string(v) != "{}" {
		t.Fatalf("value without expiry: %q, %v", v, err)
	}
	inClosedFile(t, b, path, func(tx *bbolt.Tx) {
		if n := countKeys(tx.Bucket([]byte("\x00expiry"))); n != 1 {
			t.Errorf("%d expiry index entries, want 1 (the live code)", n)
		}
	})
}

// Rewrites, deletes and counters keep exactly one index entry per value
// that expires: the index does not grow with a value's rewrites.
func TestBoltExpiryIndexHasOneEntryPerExpiringValue(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	b := openBolt(t, path, store.BoltOptions{SweepInterval: -1})
	flow := store.Key{Bucket: "flows", ID: "f"}
	for i := range 5 { // a flow rewritten with a new lifetime each step
		if _, err := b.Update(ctx, flow, func([]byte) ([]byte, time.Duration, error) {
			return []byte{byte(i)}, time.Duration(i+1) * time.Minute, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, _, err := b.Incr(ctx, store.Key{Bucket: "fails", ID: "alice"}, int64(i+1), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	taken := store.Key{Bucket: "codes", ID: "taken"}
	deleted := store.Key{Bucket: "codes", ID: "deleted"}
	cleared := store.Key{Bucket: "codes", ID: "cleared"}
	made := store.Key{Bucket: "codes", ID: "made-permanent"}
	for _, k := range []store.Key{taken, deleted, cleared, made} {
		if err := b.Put(ctx, k, []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Take(ctx, taken); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, cleared, func([]byte) ([]byte, time.Duration, error) { return nil, 0, nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, made, []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutIfAbsentBatch(ctx, []store.BatchItem{
		{Key: store.Key{Bucket: "queue", ID: "1"}, Value: []byte("a"), TTL: time.Hour},
		{Key: store.Key{Bucket: "queue", ID: "1"}, Value: []byte("b"), TTL: 2 * time.Hour},
	}); err != nil {
		t.Fatal(err)
	}
	inClosedFile(t, b, path, func(tx *bbolt.Tx) {
		// The flow, the counter and the queue item expire; nothing else is left that does.
		if n := countKeys(tx.Bucket([]byte("\x00expiry"))); n != 3 {
			t.Errorf("%d expiry index entries, want 3", n)
		}
	})
}
