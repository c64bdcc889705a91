package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// put stores value or fails the test.
func put(t *testing.T, b store.Backend, k store.Key, value string, ttl time.Duration) {
	t.Helper()
	if err := b.Put(t.Context(), k, []byte(value), ttl); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

// get reads a value that must exist.
func get(t *testing.T, b store.Backend, k store.Key) []byte {
	t.Helper()
	v, err := b.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return v
}

func list(t *testing.T, b store.Backend, bucket, after string, limit int, reverse bool) []store.Entry {
	t.Helper()
	entries, err := b.List(t.Context(), bucket, after, limit, reverse)
	if err != nil {
		t.Fatalf("List(%q, after %q, limit %d, reverse %v): %v", bucket, after, limit, reverse, err)
	}
	return entries
}

func ids(entries []store.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

// waitNotFound polls until k reads as not found.
func waitNotFound(t *testing.T, b store.Backend, k store.Key) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		_, err := b.Get(t.Context(), k)
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not expire within %v", k, waitDeadline)
		}
		time.Sleep(pollEvery)
	}
}

// checkResets checks that a window begun by a call between before and after
// ends window later.
func checkResets(t *testing.T, resets, before, after time.Time, window time.Duration) {
	t.Helper()
	lo, hi := before.Add(window-clockSlack), after.Add(window+clockSlack)
	if resets.Before(lo) || resets.After(hi) {
		t.Fatalf("window ends %v after the first Incr began, want %v", resets.Sub(before), window)
	}
}

func receive(t *testing.T, sub <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-sub:
		if !ok {
			t.Fatal("subscription closed unexpectedly")
		}
		return c
	case <-time.After(deliveryDeadline):
		t.Fatalf("no change delivered within %v", deliveryDeadline)
	}
	return store.Change{}
}

// waitClosed drains sub until it closes.
func waitClosed(t *testing.T, sub <-chan store.Change) {
	t.Helper()
	deadline := time.After(waitDeadline)
	for {
		select {
		case _, ok := <-sub:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("subscription not closed within %v", waitDeadline)
		}
	}
}

// race runs fn(0..n-1) in n goroutines released at once, and waits.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}
