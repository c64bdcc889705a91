package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/store/storetest"
)

// The store's Redis backend on a real redis-server: the conformance suite
// on a single server and through a cluster client, outages, restarts and
// publishing. They live here, not in store/, because they start a peer.

// openRedis opens a store.Redis that the test closes when it ends. Tests
// that are not about timeouts get a generous one: under the race detector
// on a loaded 2-core machine a round trip can take longer than the
// production default of 250ms.
func openRedis(t testing.TB, opts store.RedisOptions) *store.Redis {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Second
	}
	r, err := store.OpenRedis(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// rawClient talks to the peer directly, to see what the store wrote.
func rawClient(t testing.TB, peer *testpeer.RedisPeer) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: peer.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedis(t *testing.T) {
	t.Parallel()
	// One server for the whole suite; a prefix per subtest keeps them apart.
	peer := testpeer.Redis(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Backend {
		return openRedis(t, store.RedisOptions{
			URL:       peer.URL(),
			KeyPrefix: fmt.Sprintf("suite%d:", n.Add(1)),
		})
	})
}

// TestRedisCluster runs the suite through a cluster client, which refuses
// commands, transactions and scripts whose keys span slots: the per-bucket
// hash tags must keep every operation in one.
func TestRedisCluster(t *testing.T) {
	t.Parallel() // overlaps the 2s a new cluster node waits before accepting writes
	peer := testpeer.Redis(t, testpeer.WithCluster())
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Backend {
		return openRedis(t, store.RedisOptions{
			// The same node twice: two addresses make a cluster client.
			Addrs:     []string{peer.Addr(), peer.Addr()},
			KeyPrefix: fmt.Sprintf("suite%d:", n.Add(1)),
		})
	})
}

// assertUnavailableWithin runs each call and checks that it fails with
// ErrUnavailable within limit.
func assertUnavailableWithin(t *testing.T, limit time.Duration, calls map[string]func() error) {
	t.Helper()
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
		}
		if took > limit {
			t.Errorf("%s took %v to fail, want at most %v", name, took, limit)
		}
	}
}

// everyCall exercises each kind of Redis round trip.
func everyCall(ctx context.Context, b store.Backend) map[string]func() error {
	k := store.Key{Bucket: "b", ID: "k"}
	return map[string]func() error{
		"Get": func() error { _, err := b.Get(ctx, k); return err },
		"Put": func() error { return b.Put(ctx, k, []byte("v"), time.Minute) },
		"PutIfAbsent": func() error {
			_, err := b.PutIfAbsent(ctx, store.Key{Bucket: "b", ID: "new"}, []byte("v"), 0)
			return err
		},
		"Delete": func() error { return b.Delete(ctx, k) },
		"Take":   func() error { _, err := b.Take(ctx, k); return err },
		"Update": func() error {
			_, err := b.Update(ctx, k, func(old []byte) ([]byte, time.Duration, error) { return []byte("u"), 0, nil })
			return err
		},
		"Incr":      func() error { _, _, err := b.Incr(ctx, k, 1, time.Minute); return err },
		"Incr by 0": func() error { _, _, err := b.Incr(ctx, k, 0, time.Minute); return err },
		"List":      func() error { _, err := b.List(ctx, "b", "", 10, false); return err },
		"Publish":   func() error { return b.Publish(ctx, store.Change{Kind: store.ChangeUser, ID: "x"}) },
		"Ping":      func() error { return b.Ping(ctx) },
	}
}

func TestRedisDownFailsFastWithUnavailable(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	const timeout = 100 * time.Millisecond
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), Timeout: timeout})
	if err := r.Put(t.Context(), store.Key{Bucket: "b", ID: "k"}, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	peer.Stop()
	assertUnavailableWithin(t, 2*timeout, everyCall(t.Context(), r))
}

func TestRedisHungServerFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	const timeout = 100 * time.Millisecond
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), Timeout: timeout})
	k := store.Key{Bucket: "b", ID: "k"}
	if err := r.Put(t.Context(), k, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Connections stay open but nothing answers: only timeouts end calls.
	const pause = time.Second
	resumes := time.Now().Add(pause)
	peer.Pause(pause)
	calls := everyCall(t.Context(), r)
	assertUnavailableWithin(t, 2*timeout, map[string]func() error{
		"Get":    calls["Get"],
		"Update": calls["Update"],
		"Incr":   calls["Incr"],
	})
	if time.Now().After(resumes) {
		t.Fatal("the calls outlasted the pause; the test proves nothing")
	}
	time.Sleep(time.Until(resumes))
	waitFor(t, "Get after the pause", func() error {
		v, err := r.Get(t.Context(), k)
		if err == nil && string(v) != "v" {
			err = fmt.Errorf("Get = %q, want %q", v, "v")
		}
		return err
	})
}

func TestRedisRecoversWithoutReopen(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	const timeout = 100 * time.Millisecond
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), Timeout: timeout})
	ctx := t.Context()
	k := store.Key{Bucket: "b", ID: "k"}
	if err := r.Put(ctx, k, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	peer.Stop()
	if err := r.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with Redis stopped: err = %v, want ErrUnavailable", err)
	}
	peer.Start()
	// The first call must work: pooled connections to the old process are
	// replaced, not handed to callers.
	if _, err := r.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("first Get after restart: err = %v, want ErrNotFound (the data was not persisted)", err)
	}
	if err := r.Put(ctx, k, []byte("again"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx, k); err != nil || string(v) != "again" {
		t.Fatalf("Get after restart = %q, %v; want %q", v, err, "again")
	}
	if n, _, err := r.Incr(ctx, store.Key{Bucket: "c", ID: "n"}, 1, time.Minute); err != nil || n != 1 {
		t.Fatalf("Incr after restart = %d, %v; want 1", n, err)
	}
}

func TestRedisResubscribeSendsResync(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), Timeout: 100 * time.Millisecond})
	ctx := t.Context()
	sub := r.Subscribe(ctx)
	peer.Stop()
	peer.Start()

	deadline := time.After(5 * time.Second)
	for resynced := false; !resynced; {
		select {
		case c, ok := <-sub:
			if !ok {
				t.Fatal("subscription closed")
			}
			resynced = c.Kind == store.ChangeResync
		case <-deadline:
			t.Fatal("no ChangeResync within 5s of Redis coming back")
		}
	}
	// The resync comes once the subscription is live again: what is
	// published now arrives.
	want := store.Change{Kind: store.ChangePolicy, Realm: "corp"}
	if err := r.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case c := <-sub:
			if c == want {
				return
			}
			if c.Kind != store.ChangeResync {
				t.Fatalf("received %+v, want %+v", c, want)
			}
		case <-time.After(time.Second):
			t.Fatal("change published after the resync did not arrive")
		}
	}
}

func TestRedisPublishReachesOtherInstances(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t)
	a := openRedis(t, store.RedisOptions{URL: peer.URL()})
	b := openRedis(t, store.RedisOptions{URL: peer.URL()})
	other := openRedis(t, store.RedisOptions{URL: peer.URL(), KeyPrefix: "other:"})
	ctx := t.Context()
	subB, subOther := b.Subscribe(ctx), other.Subscribe(ctx)
	want := store.Change{Kind: store.ChangeDevice, Realm: "r", ID: "d1"}
	if err := a.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-subB:
		if c != want {
			t.Fatalf("other instance received %+v, want %+v", c, want)
		}
	case <-time.After(time.Second):
		t.Fatal("change did not reach the other instance")
	}
	select {
	case c := <-subOther:
		t.Fatalf("an instance with another prefix received %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRedisPersistenceSurvivesRestart(t *testing.T) {
	t.Parallel()
	peer := testpeer.Redis(t, testpeer.WithPersistence())
	r := openRedis(t, store.RedisOptions{URL: peer.URL(), Timeout: 200 * time.Millisecond})
	ctx := t.Context()
	k := store.Key{Bucket: "users/realm a", ID: "alice"}
	counter := store.Key{Bucket: "limits", ID: "login:alice"}
	if err := r.Put(ctx, k, []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	_, resets, err := r.Incr(ctx, counter, 3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	peer.Stop() // a kill: only what was fsynced survives
	peer.Start()

	if v, err := r.Get(ctx, k); err != nil || string(v) != "v1" {
		t.Fatalf("Get after restart = %q, %v; want %q", v, err, "v1")
	}
	n, again, err := r.Incr(ctx, counter, 1, time.Hour)
	if err != nil || n != 4 {
		t.Fatalf("Incr after restart = %d, %v; want 4", n, err)
	}
	if d := again.Sub(resets).Abs(); d > time.Second {
		t.Fatalf("the counter's window end moved by %v across the restart", d)
	}
	if got, err := r.List(ctx, "users/realm a", "", 10, false); err != nil || len(got) != 1 || got[0].ID != "alice" {
		t.Fatalf("List after restart = %+v, %v; want alice", got, err)
	}
}

// waitFor polls fn until it succeeds, for up to 5s.
func waitFor(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 5s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkRedisGet(b *testing.B) {
	peer := testpeer.Redis(b)
	r := openRedis(b, store.RedisOptions{URL: peer.URL()})
	ctx := b.Context()
	k := store.Key{Bucket: "sessions", ID: "abc"}
	if err := r.Put(ctx, k, []byte(strings.Repeat("v", 200)), time.Hour); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisIncr(b *testing.B) {
	peer := testpeer.Redis(b)
	r := openRedis(b, store.RedisOptions{URL: peer.URL()})
	ctx := b.Context()
	k := store.Key{Bucket: "fail-user/corp", ID: "alice"}
	for b.Loop() {
		if _, _, err := r.Incr(ctx, k, 1, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
