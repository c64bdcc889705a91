// Package storetest is the conformance suite of store.Backend: every
// implementation runs it from its own tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

const (
	// shortTTL is the lifetime of values the suite waits out. Short, so the
	// suite stays fast; nothing is asserted about it that load could break.
	shortTTL = 150 * time.Millisecond
	// waitDeadline bounds every poll for something that must happen soon.
	waitDeadline = 5 * time.Second
	pollEvery    = 10 * time.Millisecond
	// deliveryDeadline bounds how long a published change may take to arrive.
	deliveryDeadline = time.Second
	// clockSlack absorbs rounding of expiry times (Redis keeps milliseconds).
	clockSlack = 25 * time.Millisecond
	// racers is how many goroutines contend in the race tests.
	racers = 20
)

// Run checks b against the Backend contract. open must return a new, empty
// backend each time it is called (once per subtest; subtests run in
// parallel) and arrange its own cleanup, which must tolerate the suite
// having closed it already.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"EmptyValue", testEmptyValue},
		{"Expiry", testExpiry},
		{"InvalidInput", testInvalidInput},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"Delete", testDelete},
		{"Take", testTake},
		{"TakeRace", testTakeRace},
		{"Update", testUpdate},
		{"UpdateRace", testUpdateRace},
		{"UpdateJSON", testUpdateJSON},
		{"Incr", testIncr},
		{"IncrRace", testIncrRace},
		{"IncrByZeroOnlyReads", testIncrByZeroOnlyReads},
		{"IncrWindow", testIncrWindow},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"BucketsIsolated", testBucketsIsolated},
		{"OddNames", testOddNames},
		{"PublishSubscribe", testPublishSubscribe},
		{"SubscribeCancel", testSubscribeCancel},
		{"SlowSubscriber", testSlowSubscriber},
		{"Ping", testPing},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

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

func testPutIfAbsent(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	if ok, err := b.PutIfAbsent(ctx, k, []byte("first"), 0); err != nil || !ok {
		t.Fatalf("PutIfAbsent of absent key = %v, %v; want true, nil", ok, err)
	}
	if ok, err := b.PutIfAbsent(ctx, k, []byte("second"), 0); err != nil || ok {
		t.Fatalf("PutIfAbsent of present key = %v, %v; want false, nil", ok, err)
	}
	if got := get(t, b, k); string(got) != "first" {
		t.Fatalf("Get = %q, want %q", got, "first")
	}
}

func testPutIfAbsentRace(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	won := make([]bool, racers)
	race(racers, func(i int) {
		ok, err := b.PutIfAbsent(ctx, k, []byte(strconv.Itoa(i)), 0)
		if err != nil {
			t.Error(err)
		}
		won[i] = ok
	})
	winners := 0
	for i, ok := range won {
		if ok {
			winners++
			if got := get(t, b, k); string(got) != strconv.Itoa(i) {
				t.Errorf("stored value %q is not the winner's %d", got, i)
			}
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent PutIfAbsent won, want exactly 1", winners, racers)
	}
}

func testDelete(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	put(t, b, k, "v", 0)
	put(t, b, store.Key{Bucket: "b", ID: "other"}, "v", 0)
	for range 2 { // deleting twice is fine
		if err := b.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
		}
	}
	if err := b.Delete(ctx, store.Key{Bucket: "nobucket", ID: "k"}); err != nil {
		t.Fatalf("Delete in missing bucket: %v", err)
	}
	if got := get(t, b, store.Key{Bucket: "b", ID: "other"}); string(got) != "v" {
		t.Fatalf("Delete removed a neighbour: Get = %q", got)
	}
}

func testTake(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	put(t, b, k, "v", 0)
	got, err := b.Take(ctx, k)
	if err != nil || string(got) != "v" {
		t.Fatalf("Take = %q, %v; want %q, nil", got, err, "v")
	}
	if _, err := b.Take(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Take: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Take: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Take(ctx, store.Key{Bucket: "nobucket", ID: "k"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take in missing bucket: err = %v, want ErrNotFound", err)
	}
}

func testTakeRace(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "once"}
	put(t, b, k, "secret", 0)
	var mu sync.Mutex
	taken := 0
	race(racers, func(int) {
		v, err := b.Take(ctx, k)
		switch {
		case err == nil:
			if string(v) != "secret" {
				t.Errorf("Take = %q, want %q", v, "secret")
			}
			mu.Lock()
			taken++
			mu.Unlock()
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("Take: err = %v, want nil or ErrNotFound", err)
		}
	})
	if taken != 1 {
		t.Fatalf("%d of %d concurrent Takes got the value, want exactly 1", taken, racers)
	}
}

func testUpdate(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	update := func(fn func(old []byte) ([]byte, time.Duration, error)) ([]byte, error) {
		return b.Update(ctx, k, fn)
	}

	got, err := update(func(old []byte) ([]byte, time.Duration, error) {
		if old != nil {
			t.Errorf("creating Update saw %q, want nil", old)
		}
		return []byte("one"), 0, nil
	})
	if err != nil || string(got) != "one" {
		t.Fatalf("creating Update = %q, %v; want %q, nil", got, err, "one")
	}

	got, err = update(func(old []byte) ([]byte, time.Duration, error) {
		return append(old, "+two"...), 0, nil
	})
	if err != nil || string(got) != "one+two" {
		t.Fatalf("modifying Update = %q, %v; want %q, nil", got, err, "one+two")
	}

	got, err = update(func([]byte) ([]byte, time.Duration, error) { return []byte("x"), 0, store.ErrAbort })
	if err != nil || string(got) != "one+two" {
		t.Fatalf("aborted Update = %q, %v; want the current value %q, nil", got, err, "one+two")
	}

	boom := errors.New("boom")
	if _, err := update(func([]byte) ([]byte, time.Duration, error) { return []byte("x"), 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing Update: err = %v, want fn's error", err)
	}
	if _, err := update(func([]byte) ([]byte, time.Duration, error) { return []byte("x"), -time.Second, nil }); err == nil {
		t.Fatal("Update to a negative TTL succeeded")
	}
	if got := get(t, b, k); string(got) != "one+two" {
		t.Fatalf("value after aborted and failed Updates = %q, want %q", got, "one+two")
	}

	got, err = update(func([]byte) ([]byte, time.Duration, error) { return nil, 0, nil })
	if err != nil || got != nil {
		t.Fatalf("deleting Update = %q, %v; want nil, nil", got, err)
	}
	if _, err := b.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after deleting Update: err = %v, want ErrNotFound", err)
	}
	if _, err := update(func([]byte) ([]byte, time.Duration, error) { return nil, 0, nil }); err != nil {
		t.Fatalf("deleting Update of missing key: %v", err)
	}
	got, err = b.Update(ctx, store.Key{Bucket: "b", ID: "absent"}, func([]byte) ([]byte, time.Duration, error) {
		return nil, 0, store.ErrAbort
	})
	if err != nil || got != nil {
		t.Fatalf("aborted Update of missing key = %q, %v; want nil, nil", got, err)
	}
}

func testUpdateRace(t *testing.T, b store.Backend) {
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "counter"}
	type counter struct{ N int }
	const n = 50
	race(n, func(int) {
		if _, err := store.UpdateJSON(ctx, b, k, func(c *counter, _ bool) (time.Duration, error) {
			c.N++
			return 0, nil
		}); err != nil {
			t.Error(err)
		}
	})
	var c counter
	if err := store.GetJSON(ctx, b, k, &c); err != nil {
		t.Fatal(err)
	}
	if c.N != n {
		t.Fatalf("after %d concurrent increments the counter is %d", n, c.N)
	}
}

func testUpdateJSON(t *testing.T, b store.Backend) {
	ctx := t.Context()
	type record struct {
		Name  string
		Count int
	}
	k := store.Key{Bucket: "json", ID: "r"}

	got, err := store.UpdateJSON(ctx, b, k, func(r *record, exists bool) (time.Duration, error) {
		return 0, store.ErrAbort
	})
	if err != nil || got != nil {
		t.Fatalf("aborted UpdateJSON of missing record = %+v, %v; want nil, nil", got, err)
	}
	got, err = store.UpdateJSON(ctx, b, k, func(r *record, exists bool) (time.Duration, error) {
		if exists {
			t.Error("new record reported as existing")
		}
		r.Name, r.Count = "a", 1
		return 0, nil
	})
	if err != nil || *got != (record{"a", 1}) {
		t.Fatalf("creating UpdateJSON = %+v, %v", got, err)
	}
	got, err = store.UpdateJSON(ctx, b, k, func(r *record, exists bool) (time.Duration, error) {
		if !exists || *r != (record{"a", 1}) {
			t.Errorf("UpdateJSON saw %+v (exists %v), want the stored record", r, exists)
		}
		r.Count++
		return 0, nil
	})
	if err != nil || *got != (record{"a", 2}) {
		t.Fatalf("modifying UpdateJSON = %+v, %v", got, err)
	}
	got, err = store.UpdateJSON(ctx, b, k, func(r *record, _ bool) (time.Duration, error) {
		r.Count = 99 // edits before an abort are not stored
		return 0, store.ErrAbort
	})
	if err != nil || got == nil || *got != (record{"a", 2}) {
		t.Fatalf("aborted UpdateJSON = %+v, %v; want the stored {a 2}", got, err)
	}
	var stored record
	if err := store.GetJSON(ctx, b, k, &stored); err != nil || stored != (record{"a", 2}) {
		t.Fatalf("GetJSON after aborted update = %+v, %v; want {a 2}", stored, err)
	}
	if _, err := store.UpdateJSON(ctx, b, k, func(*record, bool) (time.Duration, error) { return 0, store.ErrDelete }); err != nil {
		t.Fatal(err)
	}
	if err := store.GetJSON(ctx, b, k, &stored); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJSON after ErrDelete: err = %v, want ErrNotFound", err)
	}

	if err := store.PutJSON(ctx, b, k, record{"p", 7}, 0); err != nil {
		t.Fatal(err)
	}
	if err := store.GetJSON(ctx, b, k, &stored); err != nil || stored != (record{"p", 7}) {
		t.Fatalf("GetJSON after PutJSON = %+v, %v", stored, err)
	}
}

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

func testList(t *testing.T, b store.Backend) {
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		put(t, b, store.Key{Bucket: "list", ID: id}, "v"+id, 0)
	}
	cases := []struct {
		after   string
		limit   int
		reverse bool
		want    []string
	}{
		{"", 10, false, []string{"a", "b", "c", "d", "e"}},
		{"", 2, false, []string{"a", "b"}},
		{"b", 2, false, []string{"c", "d"}},
		{"bb", 10, false, []string{"c", "d", "e"}},
		{"d", 10, false, []string{"e"}},
		{"e", 10, false, nil},
		{"zz", 10, false, nil},
		{"", 10, true, []string{"e", "d", "c", "b", "a"}},
		{"", 2, true, []string{"e", "d"}},
		{"d", 2, true, []string{"c", "b"}},
		{"cc", 10, true, []string{"c", "b", "a"}},
		{"zz", 10, true, []string{"e", "d", "c", "b", "a"}},
		{"a", 10, true, nil},
		{"", store.MaxListLimit * 10, false, []string{"a", "b", "c", "d", "e"}},
	}
	for _, c := range cases {
		entries := list(t, b, "list", c.after, c.limit, c.reverse)
		if got := ids(entries); !slices.Equal(got, c.want) {
			t.Errorf("List(after %q, limit %d, reverse %v) = %q, want %q", c.after, c.limit, c.reverse, got, c.want)
		}
		for _, e := range entries {
			if string(e.Value) != "v"+e.ID {
				t.Errorf("List entry %q has value %q, want %q", e.ID, e.Value, "v"+e.ID)
			}
		}
	}
	if got := list(t, b, "nobucket", "", 10, false); len(got) != 0 {
		t.Errorf("List of missing bucket = %q, want nothing", ids(got))
	}
}

func testListPaging(t *testing.T, b store.Backend) {
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("id%03d", i)
		want = append(want, id)
		put(t, b, store.Key{Bucket: "pages", ID: id}, id, 0)
	}
	for _, reverse := range []bool{false, true} {
		var got []string
		after := ""
		for page := 0; ; page++ {
			if page > 25 {
				t.Fatal("paging does not end")
			}
			entries := list(t, b, "pages", after, 4, reverse)
			got = append(got, ids(entries)...)
			if len(entries) < 4 {
				break
			}
			after = entries[len(entries)-1].ID
		}
		w := slices.Clone(want)
		if reverse {
			slices.Reverse(w)
		}
		if !slices.Equal(got, w) {
			t.Errorf("paging (reverse %v) listed %q, want %q", reverse, got, w)
		}
	}
}

func testBucketsIsolated(t *testing.T, b store.Backend) {
	ctx := t.Context()
	// Pairs that a naive "bucket/id" or prefix-scan encoding would confuse.
	keys := []store.Key{
		{Bucket: "x", ID: "a"},
		{Bucket: "x", ID: "y/a"},
		{Bucket: "x/y", ID: "a"},
		{Bucket: "xy", ID: "a"},
		{Bucket: "x:y", ID: "a"},
		{Bucket: "a/b", ID: "c"},
		{Bucket: "a", ID: "b/c"},
	}
	for i, k := range keys {
		put(t, b, k, strconv.Itoa(i), 0)
	}
	for i, k := range keys {
		if got := get(t, b, k); string(got) != strconv.Itoa(i) {
			t.Errorf("Get(%q) = %q, want %q", k, got, strconv.Itoa(i))
		}
	}
	if got := ids(list(t, b, "x", "", 100, false)); !slices.Equal(got, []string{"a", "y/a"}) {
		t.Errorf("List(x) = %q, want [a y/a]", got)
	}
	if got := ids(list(t, b, "x", "", 100, true)); !slices.Equal(got, []string{"y/a", "a"}) {
		t.Errorf("List(x, reverse) = %q, want [y/a a]", got)
	}
	if got := ids(list(t, b, "x/y", "", 100, false)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("List(x/y) = %q, want [a]", got)
	}
	if err := b.Delete(ctx, store.Key{Bucket: "x", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, store.Key{Bucket: "x/y", ID: "a"}); string(got) != "2" {
		t.Errorf("Delete in bucket x reached bucket x/y: Get = %q", got)
	}
}

func testOddNames(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const bucket = "users/realm a"
	odd := []string{"a:b", "a/b", "/", ":", "ü日本", " lead and trail ", "100%", "..", "a\nb", "*", "[x]", "{tag}", "é", "z"}
	for _, id := range odd {
		put(t, b, store.Key{Bucket: bucket, ID: id}, "v:"+id, 0)
	}
	for _, id := range odd {
		if got := get(t, b, store.Key{Bucket: bucket, ID: id}); string(got) != "v:"+id {
			t.Errorf("Get(%q) = %q, want %q", id, got, "v:"+id)
		}
	}
	want := slices.Clone(odd)
	slices.Sort(want) // byte-wise, as List orders
	if got := ids(list(t, b, bucket, "", 100, false)); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if got := ids(list(t, b, bucket, "a/b", 2, false)); !slices.Equal(got, want[slices.Index(want, "a/b")+1:][:2]) {
		t.Errorf("List after %q = %q", "a/b", got)
	}
	if v, err := b.Take(ctx, store.Key{Bucket: bucket, ID: "ü日本"}); err != nil || string(v) != "v:ü日本" {
		t.Errorf("Take = %q, %v", v, err)
	}
	if _, err := b.Get(ctx, store.Key{Bucket: "users", ID: "realm a/a:b"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a prefix-shifted key: err = %v, want ErrNotFound", err)
	}
}

func testPublishSubscribe(t *testing.T, b store.Backend) {
	ctx := t.Context()
	sub1 := b.Subscribe(ctx)
	sub2 := b.Subscribe(ctx)
	sent := store.Change{Kind: store.ChangeUser, Realm: "corp", ID: "alice"}
	if err := b.Publish(ctx, sent); err != nil {
		t.Fatal(err)
	}
	for i, sub := range []<-chan store.Change{sub1, sub2} {
		if got := receive(t, sub); got != sent {
			t.Errorf("subscriber %d received %+v, want %+v", i+1, got, sent)
		}
	}
	next := store.Change{Kind: store.ChangePolicy, Realm: "corp"}
	if err := b.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sub1); got != next {
		t.Errorf("second change received as %+v, want %+v", got, next)
	}
}

func testSubscribeCancel(t *testing.T, b store.Backend) {
	ctx, cancel := context.WithCancel(t.Context())
	sub := b.Subscribe(ctx)
	other := b.Subscribe(t.Context())
	cancel()
	waitClosed(t, sub)
	// The other subscriber is unaffected.
	c := store.Change{Kind: store.ChangeDevice, Realm: "r", ID: "d"}
	if err := b.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, other); got != c {
		t.Fatalf("remaining subscriber received %+v, want %+v", got, c)
	}

	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	waitClosed(t, b.Subscribe(done))
}

// testSlowSubscriber checks that a subscriber that does not read cannot
// block Publish, and learns it missed changes.
func testSlowSubscriber(t *testing.T, b store.Backend) {
	ctx := t.Context()
	sub := b.Subscribe(ctx)
	const n = 1000
	published := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b.Publish(ctx, store.Change{Kind: store.ChangeDevice, ID: strconv.Itoa(i)}); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitDeadline):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	// Either every change arrives (a large enough buffer) or a resync does.
	last := strconv.Itoa(n - 1)
	for {
		c := receive(t, sub)
		if c.Kind == store.ChangeResync || c.ID == last {
			return
		}
	}
}

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
	waitClosed(t, b.Subscribe(ctx))
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

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
