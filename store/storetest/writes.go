package storetest

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

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
