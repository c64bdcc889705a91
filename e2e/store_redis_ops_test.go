package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
)

// What the store's Redis backend writes to a real redis-server, and how
// it holds up under races and a forgotten script cache.

func TestRedisParallelTakeOneWinner(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	// Two gateways sharing one Redis.
	instances := []*store.Redis{
		openRedis(t, store.RedisOptions{URL: peer.URL()}),
		openRedis(t, store.RedisOptions{URL: peer.URL()}),
	}
	ctx := t.Context()
	const rounds, racers = 20, 10
	for round := range rounds {
		k := store.Key{Bucket: "codes/corp", ID: "flow" + strconv.Itoa(round)}
		if err := instances[0].Put(ctx, k, []byte("123456"), time.Minute); err != nil {
			t.Fatal(err)
		}
		var winners atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				v, err := instances[i%2].Take(ctx, k)
				switch {
				case err == nil && string(v) == "123456":
					winners.Add(1)
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("Take = %q, %v", v, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if w := winners.Load(); w != 1 {
			t.Fatalf("round %d: %d Takes got the code, want exactly 1", round, w)
		}
	}
}

func TestRedisKeysHavePrefixAndTTL(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	raw := rawClient(t, peer)
	ctx := t.Context()
	// Someone else's data in the same database must stay untouched.
	if err := raw.Set(ctx, "foreign", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), KeyPrefix: "gw1:"})

	session := store.Key{Bucket: "sessions", ID: "abc"}
	if err := r.Put(ctx, session, []byte("s"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(ctx, store.Key{Bucket: "policy", ID: "corp"}, []byte("p"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Incr(ctx, store.Key{Bucket: "fail-ip/corp", ID: "10.0.0.1"}, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	// A bucket name holding the escape character and the brace must not
	// meet the escaped form of another.
	if err := r.Put(ctx, store.Key{Bucket: "a}b", ID: "x"}, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(ctx, store.Key{Bucket: "a%7Db", ID: "x"}, []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx, store.Key{Bucket: "a}b", ID: "x"}); err != nil || string(v) != "1" {
		t.Fatalf("Get(a}b) = %q, %v; want 1", v, err)
	}

	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k != "foreign" && !strings.HasPrefix(k, "gw1:") {
			t.Errorf("key %q lacks the prefix", k)
		}
	}
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := raw.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := pttl("gw1:{sessions}:abc"); d <= 59*time.Minute || d > time.Hour {
		t.Errorf("PTTL of the session = %v, want just under 1h", d)
	}
	if d := pttl("gw1:{policy}:corp"); d != -1 {
		t.Errorf("PTTL of a value without TTL = %v, want -1 (none)", d)
	}
	if d := pttl("gw1:{fail-ip/corp}:10.0.0.1"); d <= 59*time.Second || d > time.Minute {
		t.Errorf("PTTL of the counter = %v, want its window", d)
	}
	// An Update that returns no TTL makes the value permanent.
	if _, err := r.Update(ctx, session, func(old []byte) ([]byte, time.Duration, error) { return old, 0, nil }); err != nil {
		t.Fatal(err)
	}
	if d := pttl("gw1:{sessions}:abc"); d != -1 {
		t.Errorf("PTTL after an Update without TTL = %v, want -1", d)
	}
	if v, err := raw.Get(ctx, "foreign").Result(); err != nil || v != "x" {
		t.Errorf("foreign key = %q, %v; want it untouched", v, err)
	}

	// Changes travel on the prefixed channel.
	ps := raw.Subscribe(ctx, "gw1:changes")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	want := store.Change{Kind: store.ChangeUser, Realm: "corp", ID: "alice"}
	if err := r.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got store.Change
	if err := json.Unmarshal([]byte(msg.Payload), &got); err != nil || got != want {
		t.Fatalf("channel carried %q, want %+v as JSON", msg.Payload, want)
	}
}

func TestRedisIndexForgetsExpiredValues(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	raw := rawClient(t, peer)
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), KeyPrefix: "gw:"})
	ctx := t.Context()
	const index = "gw:{fail-ip/corp}#ids"
	// Short-lived counters that nobody lists, as rate limits are: writes
	// must keep unindexing expired ones, or the index grows forever.
	const writes = 400
	for i := range writes {
		if _, _, err := r.Incr(ctx, store.Key{Bucket: "fail-ip/corp", ID: strconv.Itoa(i)}, 1, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	n, err := raw.ZCard(ctx, index).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n > writes/2 {
		t.Errorf("index holds %d IDs after %d writes of 5ms counters, want far fewer", n, writes)
	}
	time.Sleep(20 * time.Millisecond)
	if got, err := r.List(ctx, "fail-ip/corp", "", 10, false); err != nil || len(got) != 0 {
		t.Fatalf("List of expired counters = %+v, %v; want nothing", got, err)
	}
	if n, err := raw.ZCard(ctx, index).Result(); err != nil || n != 0 {
		t.Errorf("index holds %d IDs after List met only expired values, want 0 (err %v)", n, err)
	}
}

// Incr by 0 is how limits are checked before a login attempt: it must not
// create the counter (nor start its window).
func TestRedisIncrByZeroOnlyReads(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	r := openRedis(t, store.RedisOptions{URL: peer.URL()})
	ctx := t.Context()
	k := store.Key{Bucket: "fail-user/corp", ID: "alice"}
	n, resets, err := r.Incr(ctx, k, 0, time.Minute)
	if err != nil || n != 0 || !resets.IsZero() {
		t.Fatalf("Incr by 0 of an absent counter = %d, %v, %v; want 0, zero time, nil", n, resets, err)
	}
	if _, err := r.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Incr by 0: err = %v, want ErrNotFound", err)
	}
	if got, err := r.List(ctx, k.Bucket, "", 10, false); err != nil || len(got) != 0 {
		t.Fatalf("List after Incr by 0 = %+v, %v; want nothing", got, err)
	}
	_, first, err := r.Incr(ctx, k, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n, resets, err = r.Incr(ctx, k, 0, time.Hour)
	if err != nil || n != 2 || resets.Sub(first).Abs() > 25*time.Millisecond {
		t.Fatalf("Incr by 0 of a counter = %d, ends %v after the window; want 2 and the same end (err %v)",
			n, resets.Sub(first), err)
	}
}

// A client shared with other code stays the caller's: Close leaves it open.
func TestRedisFromSharedClient(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	client := rawClient(t, peer)
	r := store.NewRedisFromClient(client, "shared:", 0)
	ctx := t.Context()
	sub := r.Subscribe(ctx)
	want := store.Change{Kind: store.ChangeUser, Realm: "corp", ID: "bob"}
	if err := r.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-sub:
		if c != want {
			t.Fatalf("received %+v, want %+v", c, want)
		}
	case <-time.After(time.Second):
		t.Fatal("no change delivered")
	}
	k := store.Key{Bucket: "b", ID: "k"}
	if err := r.Put(ctx, k, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, k); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get after Close: err = %v, want ErrUnavailable", err)
	}
	if v, err := client.Get(ctx, "shared:{b}:k").Result(); err != nil || v != "v" {
		t.Fatalf("shared client after Close: Get = %q, %v; want it still usable", v, err)
	}
}

func TestRedisUpdateConflictRetries(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	instances := []*store.Redis{
		openRedis(t, store.RedisOptions{URL: peer.URL()}),
		openRedis(t, store.RedisOptions{URL: peer.URL()}),
	}
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "n"}
	const perInstance, goroutines = 100, 4
	var calls atomic.Int64
	var wg sync.WaitGroup
	for _, r := range instances {
		for range goroutines {
			wg.Go(func() {
				for range perInstance / goroutines {
					_, err := r.Update(ctx, k, func(old []byte) ([]byte, time.Duration, error) {
						calls.Add(1)
						n, _ := strconv.Atoi(string(old)) // absent: 0
						return []byte(strconv.Itoa(n + 1)), 0, nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	v, err := instances[0].Get(ctx, k)
	if err != nil || string(v) != strconv.Itoa(2*perInstance) {
		t.Fatalf("after %d racing increments the value is %q, %v", 2*perInstance, v, err)
	}
	t.Logf("%d increments took %d calls of fn (the rest lost a race and retried)", 2*perInstance, calls.Load())
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
