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

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/store/storetest"
	"github.com/caddy2fa/caddy2fa/verify/verifytest"
)

// The store on a real Redis Cluster of three masters with a replica each:
// keys spread over nodes, so a script or transaction whose keys left one
// hash slot would be refused (CROSSSLOT, or a key not on the node).

// clusterBackend opens a store.Redis on the cluster's seed addresses.
func clusterBackend(t *testing.T, peer *testpeer.RedisClusterPeer, prefix string, timeout time.Duration) *store.Redis {
	t.Helper()
	return openRedis(t, store.RedisOptions{Addrs: peer.Addrs(), KeyPrefix: prefix, Timeout: timeout})
}

func TestStoreConformanceOnThreeMastersWithReplicas(t *testing.T) {
	peer := testpeer.RedisCluster(t)
	var n atomic.Int64
	open := func(t *testing.T) store.Backend {
		return clusterBackend(t, peer, fmt.Sprintf("suite%d:", n.Add(1)), 3*time.Second)
	}
	t.Run("Backend", func(t *testing.T) { storetest.Run(t, open) })
	t.Run("AttemptRules", func(t *testing.T) { verifytest.Run(t, open) })
}

// oneUserAndFlow are the keys of one user and one sign-in flow, as the
// records layer names them: every kind the gateway writes.
func oneUserAndFlow(realm, user, flow string) []store.Key {
	k := accounts.Keys{Realm: realm}
	return []store.Key{
		k.User(user), k.Device(user, "d1"), k.Flow(flow), k.Ceremony(flow), k.Code(flow, "email"),
		k.Attempts(flow), k.UserFailures(user), k.NetworkFailures("192.0.2.0"), k.Ladder(user),
		k.SendCooldown(user, "email"), k.SendsPerHour("email", user), k.TextsPerDay(user),
		accounts.TextsPerDayTo("+15550100"), k.RecoveryShown(user), k.Audit("0001"), k.AuditCount(),
	}
}

// Every multi-key script and transaction the store runs (store, compare
// and set, counters, take, delete, list, and the batches) succeeds on keys
// spread over three masters, with and without waiting for replicas, and
// every key it leaves for one user and one flow shares its hash slot with
// the other keys of its bucket.
func TestEveryStoreOperationKeepsItsKeysInOneSlot(t *testing.T) {
	peer := testpeer.RedisCluster(t)
	const prefix = "slots:"
	r := clusterBackend(t, peer, prefix, 3*time.Second)
	// The records that must survive a failover take another way: written
	// on their master's node, then WAIT there.
	waiting := openRedis(t, store.RedisOptions{Addrs: peer.Addrs(), KeyPrefix: prefix, Timeout: 3 * time.Second, WaitReplicas: 1})
	ctx := t.Context()
	keys := oneUserAndFlow("acme", "alice", "flow-1")

	// The cluster refuses a script whose keys leave one slot: what every
	// operation below would meet if the layout put a bucket in two.
	raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: peer.Addrs()})
	t.Cleanup(func() { raw.Close() })
	cross := raw.Eval(ctx, "redis.call('SET', KEYS[1], 1); return redis.call('SET', KEYS[2], 1)", []string{"{a}x", "{b}y"})
	if err := cross.Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a script on two slots: err = %v, want CROSSSLOT (the check below would prove nothing)", err)
	}

	masters := map[string]bool{}
	for _, k := range keys {
		runEveryOperation(t, waiting, k)
		runEveryOperation(t, r, k)
		masters[peer.MasterOfKey(prefix+"{"+k.Bucket+"}")] = true
	}
	if len(masters) < 2 {
		t.Fatalf("the buckets all landed on one master (%v): the test shows no key crossing nodes", masters)
	}
	items := make([]store.BatchItem, len(keys))
	for i, k := range keys {
		items[i] = store.BatchItem{Key: store.Key{Bucket: k.Bucket, ID: k.ID + "/batch"}, Value: []byte("b"), TTL: time.Hour}
	}
	if _, err := store.PutIfAbsentMany(ctx, r, items); err != nil {
		t.Fatalf("a batch over %d masters: %v", len(masters), err)
	}
	var buckets []string
	for _, k := range keys {
		buckets = append(buckets, k.Bucket)
	}
	if _, err := store.ListMany(ctx, r, buckets, 10); err != nil {
		t.Fatalf("ListMany over %d masters: %v", len(masters), err)
	}
	if _, err := store.GetMany(ctx, r, keys...); err != nil {
		t.Fatalf("GetMany over %d masters: %v", len(masters), err)
	}

	// What the store left in Redis is the documented layout, and each
	// bucket's value keys and index share one slot.
	found := scanCluster(t, peer, prefix+"*")
	for _, k := range keys {
		tag := prefix + "{" + k.Bucket + "}"
		slot := peer.KeySlot(tag)
		want := []string{tag + ":" + k.ID + "/batch", tag + ":" + k.ID + "/n", tag + "#ids"}
		for _, key := range want {
			if !found[key] {
				t.Errorf("%s: key %q not in the cluster; found %v", k.Bucket, key, keysOf(found, tag))
			}
			if got := peer.KeySlot(key); got != slot {
				t.Errorf("%s: %q is in slot %d, its bucket in %d", k.Bucket, key, got, slot)
			}
		}
	}
	for key := range found {
		if !strings.HasPrefix(key, prefix+"{") || !strings.ContainsAny(key, ":#") {
			t.Errorf("key %q is not PREFIX{BUCKET}:ID or PREFIX{BUCKET}#ids", key)
		}
	}
	t.Logf("%d buckets of one user and one flow on %d masters, %d keys, each bucket in one slot", len(keys), len(masters), len(found))
}

// runEveryOperation runs each keyed operation on k, failing on any error:
// a script or transaction refused by the cluster shows here.
func runEveryOperation(t *testing.T, r *store.Redis, k store.Key) {
	t.Helper()
	ctx := t.Context()
	counter := store.Key{Bucket: k.Bucket, ID: k.ID + "/n"}
	steps := []struct {
		what string
		run  func() error
	}{
		{"Put", func() error { return r.Put(ctx, k, []byte("v1"), time.Hour) }},
		{"PutIfAbsent", func() error { _, err := r.PutIfAbsent(ctx, k, []byte("v0"), time.Hour); return err }},
		{"Update", func() error {
			_, err := r.Update(ctx, k, func([]byte) ([]byte, time.Duration, error) { return []byte("v2"), time.Hour, nil })
			return err
		}},
		{"Update to delete", func() error {
			_, err := r.Update(ctx, k, func([]byte) ([]byte, time.Duration, error) { return nil, 0, nil })
			return err
		}},
		{"Update from absent", func() error {
			_, err := r.Update(ctx, k, func([]byte) ([]byte, time.Duration, error) { return []byte("v3"), time.Hour, nil })
			return err
		}},
		{"Incr", func() error { _, _, err := r.Incr(ctx, counter, 2, time.Hour); return err }},
		{"Incr by 0", func() error { _, _, err := r.Incr(ctx, counter, 0, time.Hour); return err }},
		{"List", func() error { _, err := r.List(ctx, k.Bucket, "", 10, false); return err }},
		{"List reversed", func() error { _, err := r.List(ctx, k.Bucket, "~", 10, true); return err }},
		{"Take", func() error { _, err := r.Take(ctx, k); return err }},
		{"Put again", func() error { return r.Put(ctx, k, []byte("v4"), time.Hour) }},
		{"Delete", func() error { return r.Delete(ctx, k) }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s on %s/%s: %v", s.what, k.Bucket, k.ID, err)
		}
	}
}

// scanCluster lists every key matching pattern on every master.
func scanCluster(t *testing.T, peer *testpeer.RedisClusterPeer, pattern string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	for _, addr := range peer.Masters() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		iter := c.Scan(t.Context(), 0, pattern, 1000).Iterator()
		for iter.Next(t.Context()) {
			found[iter.Val()] = true
		}
		err := iter.Err()
		c.Close()
		if err != nil {
			t.Fatalf("SCAN %s: %v", addr, err)
		}
	}
	return found
}

func keysOf(found map[string]bool, tag string) []string {
	var out []string
	for k := range found {
		if strings.HasPrefix(k, tag) {
			out = append(out, k)
		}
	}
	return out
}

// recoveryBound is how soon after a promotion the store must answer on
// the promoted master: far above what it takes (well under a second), far
// below the minute a client that kept its old slot map would take.
const recoveryBound = 15 * time.Second

// waitStoreAnswers polls op until it succeeds, failing the test if it
// still fails recoveryBound after the promotion; it returns how long that
// took.
func waitStoreAnswers(t *testing.T, what string, promoted time.Time, op func(ctx context.Context) error) time.Duration {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := op(ctx)
		cancel()
		if err == nil {
			return time.Since(promoted)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Since(promoted) > recoveryBound {
			t.Fatalf("%s: still unavailable %v after the promotion (does the client still send to the dead master?): %v", what, recoveryBound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill -9 of the master that holds a bucket and the change channel: calls
// on its slots fail closed while it is down, and once its replica is
// promoted the same store (no reopen) reads what was replicated, writes
// again, and its subscribers get a resync and then new changes.
func TestStoreServesThePromotedReplicaAfterAMasterIsKilled(t *testing.T) {
	peer := testpeer.RedisCluster(t)
	const prefix = "fo:"
	const timeout = 300 * time.Millisecond
	a := clusterBackend(t, peer, prefix, timeout)
	b := clusterBackend(t, peer, prefix, timeout)
	ctx := t.Context()
	victim := peer.MasterOfKey(prefix + "changes")
	bucket := bucketOn(t, peer, prefix, victim)
	k := store.Key{Bucket: bucket, ID: "alice"}
	if err := a.Put(ctx, k, []byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	peer.WaitReplicated(victim)
	sub := b.Subscribe(ctx)

	peer.KillMaster(victim)
	killed := time.Now()
	if _, err := a.Get(ctx, k); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get with its master killed: err = %v, want ErrUnavailable", err)
	}
	heir := peer.WaitPromoted(victim)
	promoted := time.Now()
	t.Logf("%s killed; %s promoted after %v", victim, heir, promoted.Sub(killed).Round(time.Millisecond))

	took := waitStoreAnswers(t, "Get after the promotion", promoted, func(ctx context.Context) error {
		v, err := a.Get(ctx, k)
		if err == nil && string(v) != "before" {
			t.Fatalf("Get after the promotion = %q, want the replicated %q", v, "before")
		}
		return err
	})
	t.Logf("the store read the promoted replica %v after the promotion", took.Round(time.Millisecond))
	if err := a.Put(ctx, k, []byte("after"), 0); err != nil {
		t.Fatalf("Put after the promotion: %v", err)
	}
	if _, _, err := a.Incr(ctx, store.Key{Bucket: bucket, ID: "n"}, 1, time.Minute); err != nil {
		t.Fatalf("Incr after the promotion: %v", err)
	}

	deadline := time.After(time.Until(promoted.Add(recoveryBound)))
	for resynced := false; !resynced; {
		select {
		case c := <-sub:
			resynced = c.Kind == store.ChangeResync
		case <-deadline:
			t.Fatalf("the subscriber got no ChangeResync within %v of the promotion", recoveryBound)
		}
	}
	t.Logf("subscriber resynced %v after the promotion", time.Since(promoted).Round(time.Millisecond))
	want := store.Change{Kind: store.ChangeUser, Realm: "acme", ID: "alice"}
	for got := false; !got; {
		waitStoreAnswers(t, "Publish after the promotion", promoted, func(ctx context.Context) error { return a.Publish(ctx, want) })
		select {
		case c := <-sub:
			got = c == want
		case <-deadline:
			t.Fatal("a change published after the promotion did not arrive")
		}
	}
}

// bucketOn finds a bucket name whose keys the master at addr serves.
func bucketOn(t *testing.T, peer *testpeer.RedisClusterPeer, prefix, addr string) string {
	t.Helper()
	for i := range 1000 {
		bucket := fmt.Sprintf("users/r%d", i)
		if peer.MasterOfKey(prefix+"{"+bucket+"}") == addr {
			return bucket
		}
	}
	t.Fatalf("no bucket among 1000 on %s", addr)
	return ""
}
