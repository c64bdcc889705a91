package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

func testIncr(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "counters", ID: "k"}
	const window = time.Hour
	before := time.Now()
	n, resets, err := b.Incr(ctx, k, 1, window)
	after := time.Now()
	if err != nil || n != 1 {
		t.Fatalf("first Incr = %d, %v; want 1, nil", n, err)
	}
	checkResets(t, resets, before, after, window)
	for _, step := range []struct{ delta, want int64 }{{2, 3}, {-1, 2}, {0, 2}} {
		n, r, err := b.Incr(ctx, k, step.delta, window)
		if err != nil || n != step.want {
			t.Fatalf("Incr(%d) = %d, %v; want %d, nil", step.delta, n, err, step.want)
		}
		if d := r.Sub(resets).Abs(); d > clockSlack {
			t.Fatalf("window end moved by %v on a later Incr", d)
		}
	}
	if got := get(t, b, k); string(got) != "2" {
		t.Fatalf("Get of counter = %q, want %q", got, "2")
	}

	forever := store.Key{Bucket: "counters", ID: "forever"}
	if n, resets, err := b.Incr(ctx, forever, 3, 0); err != nil || n != 3 || !resets.IsZero() {
		t.Fatalf("Incr without window = %d, %v, %v; want 3, zero time, nil", n, resets, err)
	}

	text := store.Key{Bucket: "counters", ID: "text"}
	put(t, b, text, "not a number", 0)
	if _, _, err := b.Incr(ctx, text, 1, window); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Incr of a non-number: err = %v, want a non-ErrUnavailable error", err)
	}
	if got := get(t, b, text); string(got) != "not a number" {
		t.Fatalf("failed Incr changed the value to %q", got)
	}
}

// A delta of 0 reads: an absent counter stays absent (no window starts),
// and an existing one keeps its count and window.
func testIncrByZeroOnlyReads(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "counters-zero", ID: "k"}
	n, resets, err := b.Incr(ctx, k, 0, time.Hour)
	if err != nil || n != 0 || !resets.IsZero() {
		t.Fatalf("Incr 0 on absent counter = %d, %v, %v; want 0, zero time, nil", n, resets, err)
	}
	if _, err := b.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Incr 0 created the counter: %v", err)
	}
	_, first, err := b.Incr(ctx, k, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n, resets, err = b.Incr(ctx, k, 0, time.Minute)
	// Backends that keep a TTL compute the window end from it: allow a
	// little clock movement, but a new window (a minute) must not start.
	if d := resets.Sub(first); err != nil || n != 2 || d < -time.Second || d > time.Second {
		t.Fatalf("Incr 0 on a counter = %d, %v, %v; want 2, %v", n, resets, err, first)
	}
}

func testIncrRace(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "counters", ID: "race"}
	const n = 50
	counts := make([]int64, n)
	race(n, func(i int) {
		c, _, err := b.Incr(ctx, k, 1, time.Hour)
		if err != nil {
			t.Error(err)
		}
		counts[i] = c
	})
	slices.Sort(counts)
	for i, c := range counts {
		if c != int64(i+1) {
			t.Fatalf("concurrent Incr results %v, want each of 1..%d once", counts, n)
		}
	}
}

func testIncrWindow(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "counters", ID: "window"}
	const window = 400 * time.Millisecond
	const pause = 150 * time.Millisecond

	before := time.Now()
	_, first, err := b.Incr(ctx, k, 1, window)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	checkResets(t, first, before, after, window)

	time.Sleep(pause)
	secondStart := time.Now()
	n, second, err := b.Incr(ctx, k, 1, window)
	if err != nil {
		t.Fatal(err)
	}
	end := first
	if secondStart.Before(first.Add(-clockSlack)) {
		// A window sliding from this Incr would end at least pause later.
		if n != 2 || second.Sub(first).Abs() > clockSlack {
			t.Fatalf("Incr within the window = %d ending %v later; want 2 and the same end (a fixed window)",
				n, second.Sub(first))
		}
	} else {
		// The pause overran the window (a very loaded machine): that Incr
		// began a new one, which the rest of the test uses instead.
		end = second
	}

	time.Sleep(time.Until(end.Add(2 * clockSlack)))
	n, third, err := b.Incr(ctx, k, 1, window)
	if err != nil || n != 1 {
		t.Fatalf("Incr after the window ended = %d, %v; want 1, nil", n, err)
	}
	if !third.After(end) {
		t.Fatalf("new window ends at %v, not after the old one's end %v", third, end)
	}
}
