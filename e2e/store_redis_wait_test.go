package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/store/storetest"
)

// The store's wait for replicas (RedisOptions.WaitReplicas) on a master
// and a replica: a write of a record a failover must not lose returns only
// once the replica has it, and fails when no replica acknowledges it.

const waitPrefix = "w:"

// masterAndReplica starts a master and one replica in sync with it.
func masterAndReplica(t testing.TB) (master, replica *testpeer.RedisPeer) {
	t.Helper()
	master = testpeer.Redis(t)
	return master, testpeer.RedisReplica(t, master)
}

// rawKey is the Redis key the store keeps k under, with waitPrefix.
func rawKey(k store.Key) string { return waitPrefix + "{" + k.Bucket + "}:" + k.ID }

// commandCalls is how many times the server ran the command since its
// statistics were last reset (INFO commandstats).
func commandCalls(t testing.TB, c *redis.Client, name string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	_, rest, found := strings.Cut(info, "cmdstat_"+name+":calls=")
	if !found {
		return 0
	}
	end := strings.IndexByte(rest, ',')
	if end < 0 {
		t.Fatalf("INFO commandstats: odd line for %s: %q", name, rest)
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	return n
}

// durableWrites are writes of records that must survive a failover, one of
// each kind of write, each on its own keys (seeded by seedDurable).
func durableWrites(ctx context.Context, b store.Backend, round int) map[string]func() error {
	k := accounts.Keys{Realm: "corp"}
	set := func(v []byte) func([]byte) ([]byte, time.Duration, error) {
		return func([]byte) ([]byte, time.Duration, error) { return v, 0, nil }
	}
	id := func(s string) string { return fmt.Sprintf("%s%d", s, round) }
	return map[string]func() error{
		"enrollment (Update of a user)": func() error {
			_, err := b.Update(ctx, k.User(id("alice")), set([]byte(`{"methods":["totp"]}`)))
			return err
		},
		"user record Put": func() error { return b.Put(ctx, k.User(id("bob")), []byte(`{}`), 0) },
		"code consumption (Take)": func() error {
			_, err := b.Take(ctx, k.Code(id("flow"), "email"))
			return err
		},
		"trusted-device revocation (Delete)": func() error { return b.Delete(ctx, k.Device("alice", id("d"))) },
		"policy change":                      func() error { _, err := b.Update(ctx, policy.Key(id("corp")), set([]byte(`{"v":2}`))); return err },
		"passkey challenge consumption (Update to nothing)": func() error {
			_, err := b.Update(ctx, k.Ceremony(id("flow")), set(nil))
			return err
		},
		"user created (PutIfAbsent)": func() error {
			_, err := b.PutIfAbsent(ctx, k.User(id("carol")), []byte(`{}`), 0)
			return err
		},
		"user created in a batch": func() error {
			_, err := store.PutIfAbsentMany(ctx, b, []store.BatchItem{{Key: k.User(id("dave")), Value: []byte(`{}`)}})
			return err
		},
	}
}

// seedDurable stores what durableWrites takes, deletes and updates.
func seedDurable(t *testing.T, b store.Backend, round int) {
	t.Helper()
	k := accounts.Keys{Realm: "corp"}
	id := func(s string) string { return fmt.Sprintf("%s%d", s, round) }
	for _, key := range []store.Key{k.Code(id("flow"), "email"), k.Device("alice", id("d")), k.Ceremony(id("flow"))} {
		if err := b.Put(t.Context(), key, []byte("seed"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

// notDurableWrites are writes of counters, flows and the audit log, which
// need not wait.
func notDurableWrites(ctx context.Context, b store.Backend) map[string]func() error {
	k := accounts.Keys{Realm: "corp"}
	return map[string]func() error{
		"attempt counter": func() error { _, _, err := b.Incr(ctx, k.Attempts("flow"), 1, time.Minute); return err },
		"lock ladder": func() error {
			_, err := b.Update(ctx, k.Ladder("alice"), func([]byte) ([]byte, time.Duration, error) { return []byte(`{"s":1}`), 0, nil })
			return err
		},
		"flow":        func() error { return b.Put(ctx, k.Flow("f1"), []byte(`{}`), time.Minute) },
		"audit event": func() error { return b.Put(ctx, k.Audit("0001"), []byte(`{}`), time.Hour) },
	}
}

func TestEveryDurableWriteIsOnTheReplicaWhenItReturns(t *testing.T) {
	t.Parallel()
	master, replica := masterAndReplica(t)
	r := openRedis(t, store.RedisOptions{URL: master.URL(), KeyPrefix: waitPrefix, WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	onReplica := rawClient(t, replica)
	ctx := t.Context()
	k := accounts.Keys{Realm: "corp"}
	expect := func(i int, what string, key store.Key, want string) {
		t.Helper()
		got, err := onReplica.Get(ctx, rawKey(key)).Result()
		if errors.Is(err, redis.Nil) {
			got, err = "(none)", nil
		}
		if err != nil || got != want {
			t.Fatalf("write %d (%s): the replica has %q, %v right after it returned; want %q", i, what, got, err, want)
		}
	}
	for i := range 200 {
		step := strconv.Itoa(i)
		user := k.User("alice")
		if _, err := r.Update(ctx, user, func([]byte) ([]byte, time.Duration, error) { return []byte(step), 0, nil }); err != nil {
			t.Fatal(err)
		}
		expect(i, "TOTP step on the user", user, step)
		code := k.Code("flow"+step, "email")
		if err := r.Put(ctx, code, []byte(step), 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		expect(i, "code sent", code, step)
		if _, err := r.Take(ctx, code); err != nil {
			t.Fatal(err)
		}
		expect(i, "code taken", code, "(none)")
		device := k.Device("alice", "d"+step)
		if _, err := r.PutIfAbsent(ctx, device, []byte(step), time.Hour); err != nil {
			t.Fatal(err)
		}
		expect(i, "device trusted", device, step)
		if err := r.Delete(ctx, device); err != nil {
			t.Fatal(err)
		}
		expect(i, "device revoked", device, "(none)")
	}
}

func TestDurableWriteFailsUnavailableWhenNoReplicaAcknowledgesIt(t *testing.T) {
	t.Parallel()
	master, replica := masterAndReplica(t)
	const wait = 200 * time.Millisecond
	// A timeout far above the wait: a WAIT that blocked for good would be
	// cut by it, and show as taking that long.
	const timeout = 10 * time.Second
	r := openRedis(t, store.RedisOptions{URL: master.URL(), KeyPrefix: waitPrefix, Timeout: timeout, WaitReplicas: 1, WaitTimeout: wait})
	ctx := t.Context()
	seedDurable(t, r, 0)
	seedDurable(t, r, 1)

	thaw := testpeer.FreezeServer(t, replica.Addr())
	for name, write := range durableWrites(ctx, r, 0) {
		start := time.Now()
		err := write()
		took := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s succeeded while no replica could have it", name)
		case !errors.Is(err, store.ErrUnavailable):
			t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
		case took < wait:
			t.Errorf("%s failed after %v, before its wait of %v was over", name, took, wait)
		case took > timeout/2:
			t.Errorf("%s took %v to fail: the wait of %v did not bound it", name, took, wait)
		}
	}
	for name, write := range notDurableWrites(ctx, r) {
		if err := write(); err != nil {
			t.Errorf("%s waited for the frozen replica: %v", name, err)
		}
	}

	thaw()
	eventually(t, "a durable write once the replica is back", func() error {
		return r.Put(ctx, accounts.Keys{Realm: "corp"}.User("thawed"), []byte(`{}`), 0)
	})
	for name, write := range durableWrites(ctx, r, 1) {
		if err := write(); err != nil {
			t.Errorf("%s once the replica is back: %v", name, err)
		}
	}
}

func TestWithoutWaitReplicasNoWriteWaits(t *testing.T) {
	t.Parallel()
	master, replica := masterAndReplica(t)
	r := openRedis(t, store.RedisOptions{URL: master.URL(), KeyPrefix: waitPrefix})
	seedDurable(t, r, 0)
	onMaster := rawClient(t, master)
	if err := onMaster.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	testpeer.FreezeServer(t, replica.Addr())
	for name, write := range durableWrites(t.Context(), r, 0) {
		if err := write(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := commandCalls(t, onMaster, "wait"); n != 0 {
		t.Errorf("the master ran WAIT %d times; want none", n)
	}
}

func TestOnlyRecordsThatMustSurviveAFailoverWaitForReplicas(t *testing.T) {
	t.Parallel()
	master, _ := masterAndReplica(t)
	r := openRedis(t, store.RedisOptions{URL: master.URL(), KeyPrefix: waitPrefix, WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	ctx := t.Context()
	seedDurable(t, r, 0)
	onMaster := rawClient(t, master)
	if err := onMaster.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	durable := durableWrites(ctx, r, 0)
	for name, write := range durable {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for name, write := range notDurableWrites(ctx, r) {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := r.Get(ctx, accounts.Keys{Realm: "corp"}.User("alice0")); err != nil {
		t.Fatal(err)
	}
	if n := commandCalls(t, onMaster, "wait"); n != len(durable) {
		t.Errorf("the master ran WAIT %d times; want one for each of the %d durable writes", n, len(durable))
	}
}

func TestRedisConformanceWithEveryWriteWaitingForAReplica(t *testing.T) {
	t.Parallel()
	master, _ := masterAndReplica(t)
	onMaster := rawClient(t, master)
	if err := onMaster.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after every parallel subtest
		if n := commandCalls(t, onMaster, "wait"); n == 0 {
			t.Error("the suite ran without a single WAIT: it checked nothing of the option")
		}
	})
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Backend {
		return openRedis(t, store.RedisOptions{
			URL:          master.URL(),
			KeyPrefix:    fmt.Sprintf("suite%d:", n.Add(1)),
			WaitReplicas: 1,
			WaitTimeout:  10 * time.Second,
			WaitFor:      func(string) bool { return true },
		})
	})
}

// eventually polls fn until it succeeds, for up to 30s.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
