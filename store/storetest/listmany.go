package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/store"
)

// listOnly hides a backend's ListBatcher, so that ListMany takes its one
// List at a time path.
type listOnly struct{ store.Backend }

// listManyWays are the paths ListMany can take on b: its own ListBatch (if
// it has one) and one List at a time. Both must give the same answers.
func listManyWays(b store.Backend) map[string]store.Backend {
	return map[string]store.Backend{"batched": b, "one by one": listOnly{b}}
}

// testListMany checks that ListMany gives, for each bucket and in bucket
// order, what List gives for its first page.
func testListMany(t *testing.T, b store.Backend) {
	ctx := t.Context()
	// Each value names its bucket and ID, so a page of another bucket shows.
	value := func(bucket, id string) string { return bucket + "|" + id }
	live := map[string][]string{
		"many/a":       {"c", "a", "b", "empty"},
		"many/b":       {"only"},
		"many/{odd}%":  {"x:y"},
		"many/a/inner": {"a"},
	}
	for bucket, ids := range live {
		for _, id := range ids {
			v := value(bucket, id)
			if id == "empty" {
				v = ""
			}
			put(t, b, store.Key{Bucket: bucket, ID: id}, v, 0)
		}
	}
	// Large enough that bbolt keeps its bucket on pages of its own, in the
	// file's mapping rather than inline in its parent (which bbolt may copy).
	big := store.Key{Bucket: "many/big", ID: "v"}
	put(t, b, big, strings.Repeat("b", 4096), 0)
	expiring := []store.Key{{Bucket: "many/a", ID: "expiring"}, {Bucket: "many/expired", ID: "x"}}
	for _, k := range expiring {
		put(t, b, k, "gone", shortTTL)
	}
	for _, k := range expiring {
		waitNotFound(t, b, k)
	}

	buckets := []string{"many/b", "many/none", "many/a", "many/expired", "many/{odd}%", "many/a", "many/a/inner"}
	cases := []struct {
		limit int
		want  [][]string
	}{
		{10, [][]string{{"only"}, nil, {"a", "b", "c", "empty"}, nil, {"x:y"}, {"a", "b", "c", "empty"}, {"a"}}},
		{2, [][]string{{"only"}, nil, {"a", "b"}, nil, {"x:y"}, {"a", "b"}, {"a"}}},
		{store.MaxListLimit * 10, [][]string{{"only"}, nil, {"a", "b", "c", "empty"}, nil, {"x:y"}, {"a", "b", "c", "empty"}, {"a"}}},
	}
	for way, lb := range listManyWays(b) {
		for _, c := range cases {
			got, err := store.ListMany(ctx, lb, buckets, c.limit)
			if err != nil {
				t.Fatalf("%s: ListMany(limit %d): %v", way, c.limit, err)
			}
			if len(got) != len(buckets) {
				t.Fatalf("%s: ListMany(limit %d) returned %d pages for %d buckets", way, c.limit, len(got), len(buckets))
			}
			for i, entries := range got {
				bucket := buckets[i]
				if listed := ids(entries); !slices.Equal(listed, c.want[i]) {
					t.Errorf("%s: ListMany(limit %d) page %d (%q) = %q, want %q", way, c.limit, i, bucket, listed, c.want[i])
				}
				for _, e := range entries {
					want := value(bucket, e.ID)
					if e.ID == "empty" {
						want = ""
						if e.Value == nil {
							t.Errorf("%s: an empty value in %q listed as nil", way, bucket)
						}
					}
					if string(e.Value) != want {
						t.Errorf("%s: ListMany entry %q of %q has value %q, want %q", way, e.ID, bucket, e.Value, want)
					}
				}
				if one := list(t, b, bucket, "", c.limit, false); !slices.EqualFunc(entries, one, sameEntry) {
					t.Errorf("%s: ListMany(limit %d) page of %q differs from its List", way, c.limit, bucket)
				}
			}
		}
		got, err := store.ListMany(ctx, lb, []string{"many/big"}, 10)
		if err != nil || len(got) != 1 || len(got[0]) != 1 {
			t.Fatalf("%s: ListMany(many/big) = %v, %v; want its one entry", way, got, err)
		}
		got[0][0].Value[0] = 'X' // the backend must hand out copies
		if v := get(t, b, big); string(v) != strings.Repeat("b", 4096) {
			t.Errorf("%s: modifying a listed value changed the stored one", way)
		}
		if got, err := store.ListMany(ctx, lb, nil, 10); err != nil || len(got) != 0 {
			t.Errorf("%s: ListMany of no buckets = %v, %v; want nothing, nil", way, got, err)
		}
	}
}

// testListManyLarge lists more buckets than one Redis pipeline holds and
// checks every page lines up with its bucket.
func testListManyLarge(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const n = 250
	var buckets []string
	var items []store.BatchItem
	for i := range n {
		bucket := fmt.Sprintf("large/%d", i)
		buckets = append(buckets, bucket)
		for j := range i % 4 {
			id := fmt.Sprintf("id%d", j)
			items = append(items, store.BatchItem{Key: store.Key{Bucket: bucket, ID: id}, Value: []byte(bucket + "|" + id)})
		}
	}
	if _, err := store.PutIfAbsentMany(ctx, b, items); err != nil {
		t.Fatal(err)
	}
	for way, lb := range listManyWays(b) {
		got, err := store.ListMany(ctx, lb, buckets, 2)
		if err != nil {
			t.Fatalf("%s: %v", way, err)
		}
		if len(got) != n {
			t.Fatalf("%s: ListMany returned %d pages for %d buckets", way, len(got), n)
		}
		for i, entries := range got {
			var want []string
			for j := range min(i%4, 2) {
				want = append(want, fmt.Sprintf("id%d", j))
			}
			if listed := ids(entries); !slices.Equal(listed, want) {
				t.Errorf("%s: page %d = %q, want %q", way, i, listed, want)
			}
			for _, e := range entries {
				if want := buckets[i] + "|" + e.ID; string(e.Value) != want {
					t.Errorf("%s: page %d entry %q = %q, want %q", way, i, e.ID, e.Value, want)
				}
			}
		}
	}
}

func testListManyInvalidInput(t *testing.T, b store.Backend) {
	ctx := t.Context()
	put(t, b, store.Key{Bucket: "ok", ID: "a"}, "v", 0)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for way, lb := range listManyWays(b) {
		for _, c := range []struct {
			what    string
			buckets []string
			limit   int
		}{
			{"limit 0", []string{"ok"}, 0},
			{"a negative limit", []string{"ok"}, -1},
			{"an empty bucket name", []string{"ok", ""}, 10},
			{"a bucket name with NUL", []string{"ok", "a\x00b"}, 10},
		} {
			if _, err := store.ListMany(ctx, lb, c.buckets, c.limit); err == nil || errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s: ListMany with %s: err = %v, want a non-ErrUnavailable error", way, c.what, err)
			}
		}
		if _, err := store.ListMany(cancelled, lb, []string{"ok"}, 10); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: ListMany with cancelled ctx: err = %v, want context.Canceled", way, err)
		}
	}
}

func sameEntry(a, b store.Entry) bool {
	return a.ID == b.ID && string(a.Value) == string(b.Value)
}
