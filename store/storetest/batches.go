package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// noBatcher hides a backend's Batcher, so that PutIfAbsentMany and GetMany
// take their one at a time path.
type noBatcher struct{ store.Backend }

// unbatched runs test with b's Batcher hidden: both paths must give the
// same answers.
func unbatched(test func(t *testing.T, b store.Backend)) func(t *testing.T, b store.Backend) {
	return func(t *testing.T, b store.Backend) { test(t, noBatcher{b}) }
}

func testPutIfAbsentManyLeavesExistingKeysUntouched(t *testing.T, b store.Backend) {
	ctx := t.Context()
	existing := store.Key{Bucket: "batch/a", ID: "existing"}
	put(t, b, existing, "old", 0)
	expired := store.Key{Bucket: "batch/a", ID: "expired"}
	put(t, b, expired, "gone", shortTTL)
	waitNotFound(t, b, expired)

	items := []store.BatchItem{
		{Key: existing, Value: []byte("new")},
		{Key: store.Key{Bucket: "batch/a", ID: "fresh"}, Value: []byte("first")},
		{Key: store.Key{Bucket: "batch/b", ID: "other bucket"}, Value: []byte("b")},
		{Key: store.Key{Bucket: "batch/a", ID: "fresh"}, Value: []byte("second")},
		{Key: expired, Value: []byte("back")},
		{Key: store.Key{Bucket: "batch/a", ID: "empty"}, Value: []byte{}},
	}
	stored, err := store.PutIfAbsentMany(ctx, b, items)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, true, false, true, true}; !slices.Equal(stored, want) {
		t.Errorf("stored = %v, want %v", stored, want)
	}
	for id, want := range map[string]string{"existing": "old", "fresh": "first", "expired": "back", "empty": ""} {
		got, err := b.Get(ctx, store.Key{Bucket: "batch/a", ID: id})
		if err != nil || string(got) != want {
			t.Errorf("Get %q = %q, %v; want %q", id, got, err, want)
		}
	}
	// The list index must know the new keys, as after single Puts.
	if got, want := ids(list(t, b, "batch/a", "", 10, false)), []string{"empty", "existing", "expired", "fresh"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if got, err := b.Get(ctx, store.Key{Bucket: "batch/b", ID: "other bucket"}); err != nil || string(got) != "b" {
		t.Errorf("Get other bucket = %q, %v", got, err)
	}
}

func testPutIfAbsentManyHonoursTTL(t *testing.T, b store.Backend) {
	ctx := t.Context()
	short := store.Key{Bucket: "batch", ID: "short"}
	forever := store.Key{Bucket: "batch", ID: "forever"}
	start := time.Now()
	stored, err := store.PutIfAbsentMany(ctx, b, []store.BatchItem{
		{Key: short, Value: []byte("x"), TTL: shortTTL},
		{Key: forever, Value: []byte("y")},
	})
	if err != nil || !slices.Equal(stored, []bool{true, true}) {
		t.Fatalf("PutIfAbsentMany = %v, %v", stored, err)
	}
	_, err = b.Get(ctx, short)
	if errors.Is(err, store.ErrNotFound) && time.Since(start) < shortTTL {
		t.Fatal("short-lived value gone before its TTL")
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	waitNotFound(t, b, short)
	if took := time.Since(start); took < shortTTL-clockSlack {
		t.Fatalf("value expired after %v, before its TTL of %v", took, shortTTL)
	}
	if _, err := b.Get(ctx, forever); err != nil {
		t.Errorf("value without TTL: %v", err)
	}
	// An expired key is absent: the next batch stores it again.
	stored, err = store.PutIfAbsentMany(ctx, b, []store.BatchItem{{Key: short, Value: []byte("z")}})
	if err != nil || !slices.Equal(stored, []bool{true}) {
		t.Errorf("PutIfAbsentMany over an expired key = %v, %v", stored, err)
	}
}

func testPutIfAbsentManyRejectsInvalidBatchBeforeWriting(t *testing.T, b store.Backend) {
	ctx := t.Context()
	valid := store.Key{Bucket: "batch", ID: "valid"}
	for what, bad := range map[string]store.BatchItem{
		"empty ID":     {Key: store.Key{Bucket: "batch"}},
		"NUL bucket":   {Key: store.Key{Bucket: "a\x00b", ID: "x"}},
		"negative TTL": {Key: store.Key{Bucket: "batch", ID: "x"}, TTL: -time.Second},
	} {
		_, err := store.PutIfAbsentMany(ctx, b, []store.BatchItem{{Key: valid, Value: []byte("v")}, bad})
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: err = %v, want a caller error", what, err)
		}
	}
	if _, err := b.Get(ctx, valid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected batch wrote its valid item: %v", err)
	}
	stored, err := store.PutIfAbsentMany(ctx, b, nil)
	if err != nil || len(stored) != 0 {
		t.Errorf("empty batch = %v, %v", stored, err)
	}
}

func testPutIfAbsentManyAfterCloseIsUnavailable(t *testing.T, b store.Backend) {
	b.Close()
	_, err := store.PutIfAbsentMany(t.Context(), b, []store.BatchItem{{Key: store.Key{Bucket: "batch", ID: "x"}}})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// testPutIfAbsentManyLargeBatch crosses the Redis pipeline chunk size and
// checks every result lines up with its item.
func testPutIfAbsentManyLargeBatch(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const n = 1000
	for i := 0; i < n; i += 7 {
		put(t, b, store.Key{Bucket: "batch", ID: fmt.Sprintf("k%04d", i)}, "old", 0)
	}
	items := make([]store.BatchItem, n)
	for i := range items {
		// Descending IDs: the batch is not in key order.
		id := fmt.Sprintf("k%04d", n-1-i)
		items[i] = store.BatchItem{Key: store.Key{Bucket: "batch", ID: id}, Value: []byte("new " + id)}
	}
	stored, err := store.PutIfAbsentMany(ctx, b, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range stored {
		if want := (n-1-i)%7 != 0; ok != want {
			t.Fatalf("stored[%d] (%s) = %v, want %v", i, items[i].Key.ID, ok, want)
		}
	}
	entries := list(t, b, "batch", "", store.MaxListLimit, false)
	if len(entries) != n {
		t.Fatalf("List found %d entries, want %d", len(entries), n)
	}
	for i, e := range entries {
		want := "new " + e.ID
		if i%7 == 0 {
			want = "old"
		}
		if string(e.Value) != want {
			t.Fatalf("%s = %q, want %q", e.ID, e.Value, want)
		}
	}
}

func testGetManyReadsEveryKeyInOrder(t *testing.T, b store.Backend) {
	ctx := t.Context()
	a := store.Key{Bucket: "get/a", ID: "a"}
	other := store.Key{Bucket: "get/b", ID: "in another bucket"}
	empty := store.Key{Bucket: "get/a", ID: "empty"}
	expired := store.Key{Bucket: "get/a", ID: "expired"}
	counter := store.Key{Bucket: "get/counters", ID: "c"}
	for k, v := range map[store.Key]string{a: "A", other: "B", empty: ""} {
		put(t, b, k, v, 0)
	}
	put(t, b, expired, "gone", shortTTL)
	if _, _, err := b.Incr(ctx, counter, 7, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitNotFound(t, b, expired)

	keys := []store.Key{other, {Bucket: "get/a", ID: "missing"}, a, expired, empty, counter, {Bucket: "get/none", ID: "x"}, a}
	got, err := store.GetMany(ctx, b, keys...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"B", "<nil>", "A", "<nil>", "", "7", "<nil>", "A"}
	if len(got) != len(want) {
		t.Fatalf("GetMany returned %d values for %d keys", len(got), len(keys))
	}
	for i, v := range got {
		s := "<nil>"
		if v != nil {
			s = string(v)
		}
		if s != want[i] {
			t.Errorf("value %d (%v) = %q, want %q", i, keys[i], s, want[i])
		}
	}
	if got[4] == nil {
		t.Error("a stored empty value read as missing")
	}
}

func testGetManyRejectsInvalidKeys(t *testing.T, b store.Backend) {
	_, err := store.GetMany(t.Context(), b, store.Key{Bucket: "get", ID: "ok"}, store.Key{Bucket: "get"})
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("err = %v, want a caller error", err)
	}
	got, err := store.GetMany(t.Context(), b)
	if err != nil || len(got) != 0 {
		t.Errorf("no keys = %v, %v", got, err)
	}
}

func testGetManyAfterCloseIsUnavailable(t *testing.T, b store.Backend) {
	b.Close()
	if _, err := store.GetMany(t.Context(), b, store.Key{Bucket: "get", ID: "x"}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// testGetManyLargeBatch crosses the Redis pipeline chunk size and checks
// every value lines up with its key.
func testGetManyLargeBatch(t *testing.T, b store.Backend) {
	var keys []store.Key
	for i := range 250 {
		k := store.Key{Bucket: fmt.Sprintf("get/%d", i%7), ID: fmt.Sprint(i)}
		keys = append(keys, k)
		if i%3 != 0 {
			put(t, b, k, fmt.Sprint("v", i), 0)
		}
	}
	got, err := store.GetMany(t.Context(), b, keys...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("GetMany returned %d values for %d keys", len(got), len(keys))
	}
	for i, v := range got {
		if i%3 == 0 {
			if v != nil {
				t.Errorf("key %d was never written but read %q", i, v)
			}
		} else if string(v) != fmt.Sprint("v", i) {
			t.Errorf("key %d = %q", i, v)
		}
	}
}
