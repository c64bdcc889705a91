package store_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
)

// Whatever a context claims about a key, Update decides on the stored
// value: a stale, wrong or absent guess only costs a retry.
func TestUpdateWithKnownValuesDecidesOnTheStoredValue(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
		ctx := t.Context()
		k := store.Key{Bucket: "known", ID: "k"}
		if err := b.Put(ctx, k, []byte("stored"), 0); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			guess []byte
		}{
			{"stale", []byte("stale")},
			{"absent", nil},
			{"right", []byte("stored")},
		} {
			if err := b.Put(ctx, k, []byte("stored"), 0); err != nil {
				t.Fatal(err)
			}
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
	})
}

// With the right value known, a Redis Update is one script call: the
// only GET the server runs is the one inside the compare-and-set.
func TestRedisUpdateWithKnownValueSkipsTheRead(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	r := openRedis(t, store.RedisOptions{URL: peer.URL()})
	raw := rawClient(t, peer)
	ctx := t.Context()
	k := store.Key{Bucket: "known", ID: "k"}
	if err := r.Put(ctx, k, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	gets := func() int {
		info, err := raw.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`cmdstat_get:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	inc := func(ctx context.Context) {
		if _, err := r.Update(ctx, k, func(old []byte) ([]byte, time.Duration, error) {
			n, _ := strconv.Atoi(string(old))
			return []byte(strconv.Itoa(n + 1)), 0, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var perUpdate []int
	for _, known := range []bool{false, true} {
		before := gets()
		uctx := ctx
		if known {
			v, err := r.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			before = gets() // not the read that learned the value
			uctx = store.WithKnownValues(ctx, map[store.Key][]byte{k: v})
		}
		inc(uctx)
		perUpdate = append(perUpdate, gets()-before)
	}
	if want := []int{2, 1}; !slices.Equal(perUpdate, want) {
		t.Errorf("GETs the server ran per Update (unknown, known) = %v, want %v", perUpdate, want)
	}
	if v, err := r.Get(ctx, k); err != nil || string(v) != "3" {
		t.Errorf("after two increments: %q, %v", v, err)
	}
}

func TestOnceValuesHandsEachValueOutOnce(t *testing.T) {
	k, absent := store.Key{Bucket: "b", ID: "k"}, store.Key{Bucket: "b", ID: "absent"}
	src := map[store.Key][]byte{k: []byte("v"), absent: nil}
	o := store.NewOnceValues(src)
	delete(src, k) // a copy is held
	if v, ok := o.Take(k); !ok || string(v) != "v" {
		t.Fatalf("first Take = %q, %t", v, ok)
	}
	if _, ok := o.Take(k); ok {
		t.Fatal("a value handed out twice")
	}
	if v, ok := o.Take(absent); !ok || v != nil {
		t.Fatalf("a held absence = %q, %t; want nil, true", v, ok)
	}
	var none *store.OnceValues
	if _, ok := none.Take(k); ok {
		t.Fatal("a nil OnceValues held a value")
	}
}
