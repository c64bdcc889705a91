package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
)

// unbatched hides a backend's Batcher, so PutIfAbsentMany takes its
// one-at-a-time path.
type unbatched struct{ store.Backend }

// batchBackends are the ways PutIfAbsentMany can run, each opening a new,
// empty backend per call. withCluster adds a Redis Cluster client, which
// refuses pipelines that mix slots unless it splits them.
func batchBackends(t *testing.T, withCluster bool) map[string]func(t *testing.T) store.Backend {
	peer := testpeer.Redis(t)
	var n atomic.Int64
	openRedisPrefixed := func(t *testing.T) *store.Redis {
		return openRedis(t, store.RedisOptions{URL: peer.URL(), KeyPrefix: fmt.Sprintf("batch%d:", n.Add(1))})
	}
	openTempBolt := func(t *testing.T) *store.Bolt {
		return openBolt(t, filepath.Join(t.TempDir(), "state.db"), store.BoltOptions{})
	}
	backends := map[string]func(t *testing.T) store.Backend{
		"Bolt":          func(t *testing.T) store.Backend { return openTempBolt(t) },
		"Redis":         func(t *testing.T) store.Backend { return openRedisPrefixed(t) },
		"UnbatchedBolt": func(t *testing.T) store.Backend { return unbatched{openTempBolt(t)} },
	}
	if withCluster {
		cluster := testpeer.Redis(t, testpeer.WithCluster())
		backends["RedisCluster"] = func(t *testing.T) store.Backend {
			return openRedis(t, store.RedisOptions{
				// The same node twice: two addresses make a cluster client.
				Addrs:     []string{cluster.Addr(), cluster.Addr()},
				KeyPrefix: fmt.Sprintf("batch%d:", n.Add(1)),
			})
		}
	}
	return backends
}

// eachBatchBackend runs test in parallel on a new, empty backend of each
// kind batchBackends opens.
func eachBatchBackend(t *testing.T, withCluster bool, test func(t *testing.T, b store.Backend)) {
	t.Parallel()
	for name, open := range batchBackends(t, withCluster) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t))
		})
	}
}

func TestPutIfAbsentManyLeavesExistingKeysUntouched(t *testing.T) {
	eachBatchBackend(t, true, func(t *testing.T, b store.Backend) {
		ctx := t.Context()
		existing := store.Key{Bucket: "batch/a", ID: "existing"}
		if err := b.Put(ctx, existing, []byte("old"), 0); err != nil {
			t.Fatal(err)
		}
		expired := store.Key{Bucket: "batch/a", ID: "expired"}
		if err := b.Put(ctx, expired, []byte("gone"), 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)

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
		entries, err := b.List(ctx, "batch/a", "", 10, false)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		if want := []string{"empty", "existing", "expired", "fresh"}; !slices.Equal(ids, want) {
			t.Errorf("List = %v, want %v", ids, want)
		}
		if got, err := b.Get(ctx, store.Key{Bucket: "batch/b", ID: "other bucket"}); err != nil || string(got) != "b" {
			t.Errorf("Get other bucket = %q, %v", got, err)
		}
	})
}

func TestPutIfAbsentManyHonoursTTL(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
		ctx := t.Context()
		short := store.Key{Bucket: "batch", ID: "short"}
		forever := store.Key{Bucket: "batch", ID: "forever"}
		stored, err := store.PutIfAbsentMany(ctx, b, []store.BatchItem{
			{Key: short, Value: []byte("x"), TTL: 100 * time.Millisecond},
			{Key: forever, Value: []byte("y")},
		})
		if err != nil || !slices.Equal(stored, []bool{true, true}) {
			t.Fatalf("PutIfAbsentMany = %v, %v", stored, err)
		}
		if _, err := b.Get(ctx, short); err != nil {
			t.Fatalf("short-lived value missing before its TTL: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := b.Get(ctx, short)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("value with a 100ms TTL still readable after 5s: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := b.Get(ctx, forever); err != nil {
			t.Errorf("value without TTL: %v", err)
		}
		// An expired key is absent: the next batch stores it again.
		stored, err = store.PutIfAbsentMany(ctx, b, []store.BatchItem{{Key: short, Value: []byte("z")}})
		if err != nil || !slices.Equal(stored, []bool{true}) {
			t.Errorf("PutIfAbsentMany over an expired key = %v, %v", stored, err)
		}
	})
}

func TestPutIfAbsentManyRejectsInvalidBatchBeforeWriting(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
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
	})
}

func TestPutIfAbsentManyAfterCloseIsUnavailable(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
		b.Close()
		_, err := store.PutIfAbsentMany(t.Context(), b, []store.BatchItem{{Key: store.Key{Bucket: "batch", ID: "x"}}})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestPutIfAbsentManyLargeBatch crosses the Redis pipeline chunk size and
// checks every result lines up with its item.
func TestPutIfAbsentManyLargeBatch(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
		ctx := t.Context()
		const n = 1000
		for i := 0; i < n; i += 7 {
			if err := b.Put(ctx, store.Key{Bucket: "batch", ID: fmt.Sprintf("k%04d", i)}, []byte("old"), 0); err != nil {
				t.Fatal(err)
			}
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
		entries, err := b.List(ctx, "batch", "", store.MaxListLimit, false)
		if err != nil {
			t.Fatal(err)
		}
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
	})
}

func TestGetManyReadsEveryKeyInOrder(t *testing.T) {
	eachBatchBackend(t, true, func(t *testing.T, b store.Backend) {
		ctx := t.Context()
		a := store.Key{Bucket: "get/a", ID: "a"}
		other := store.Key{Bucket: "get/b", ID: "in another bucket"}
		empty := store.Key{Bucket: "get/a", ID: "empty"}
		expired := store.Key{Bucket: "get/a", ID: "expired"}
		counter := store.Key{Bucket: "get/counters", ID: "c"}
		for k, v := range map[store.Key]string{a: "A", other: "B", empty: ""} {
			if err := b.Put(ctx, k, []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Put(ctx, expired, []byte("gone"), 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Incr(ctx, counter, 7, time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)

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
	})
}

func TestGetManyRejectsInvalidKeys(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
		_, err := store.GetMany(t.Context(), b, store.Key{Bucket: "get", ID: "ok"}, store.Key{Bucket: "get"})
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("err = %v, want a caller error", err)
		}
		got, err := store.GetMany(t.Context(), b)
		if err != nil || len(got) != 0 {
			t.Errorf("no keys = %v, %v", got, err)
		}
	})
}

func TestGetManyAfterCloseIsUnavailable(t *testing.T) {
	eachBatchBackend(t, false, func(t *testing.T, b store.Backend) {
		b.Close()
		if _, err := store.GetMany(t.Context(), b, store.Key{Bucket: "get", ID: "x"}); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestGetManyLargeBatch crosses the Redis pipeline chunk size and checks
// every value lines up with its key.
func TestGetManyLargeBatch(t *testing.T) {
	eachBatchBackend(t, true, func(t *testing.T, b store.Backend) {
		ctx := t.Context()
		var keys []store.Key
		for i := range 250 {
			k := store.Key{Bucket: fmt.Sprintf("get/%d", i%7), ID: fmt.Sprint(i)}
			keys = append(keys, k)
			if i%3 != 0 {
				if err := b.Put(ctx, k, []byte(fmt.Sprint("v", i)), 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := store.GetMany(ctx, b, keys...)
		if err != nil {
			t.Fatal(err)
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
	})
}

// TestRedisListManyWithoutCachedScript: a server that has forgotten the
// list script (restarted, or SCRIPT FLUSH) refuses pipelined EVALSHAs, and
// a pipeline cannot fall back command by command; ListMany must still
// answer, on a single server and through a cluster client.
func TestRedisListManyWithoutCachedScript(t *testing.T) {
	t.Parallel()
	for name, cluster := range map[string]bool{"Redis": false, "RedisCluster": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var peer *testpeer.RedisPeer
			var opts store.RedisOptions
			if cluster {
				peer = testpeer.Redis(t, testpeer.WithCluster())
				opts.Addrs = []string{peer.Addr(), peer.Addr()}
			} else {
				peer = testpeer.Redis(t)
				opts.URL = peer.URL()
			}
			r := openRedis(t, opts)
			ctx := t.Context()
			buckets := []string{"flush/a", "flush/none", "flush/b"}
			for _, bucket := range []string{"flush/a", "flush/b"} {
				if err := r.Put(ctx, store.Key{Bucket: bucket, ID: "x"}, []byte(bucket), 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := rawClient(t, peer).ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			for _, when := range []string{"after SCRIPT FLUSH", "again"} {
				got, err := store.ListMany(ctx, r, buckets, 10)
				if err != nil {
					t.Fatalf("ListMany %s: %v", when, err)
				}
				want := [][]string{{"flush/a"}, nil, {"flush/b"}}
				if len(got) != len(want) {
					t.Fatalf("ListMany %s returned %d pages for %d buckets", when, len(got), len(want))
				}
				for i, entries := range got {
					var values []string
					for _, e := range entries {
						values = append(values, string(e.Value))
					}
					if !slices.Equal(values, want[i]) {
						t.Errorf("ListMany %s: page %d = %q, want %q", when, i, values, want[i])
					}
				}
			}
		})
	}
}
