package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/store"
)

// A cluster pipeline would send WAIT, which names no key, to any master,
// where it counts the replicas of another connection's writes: each write
// that waits must wait at the master of its own key's slot.
func TestEachWriteWaitsAtTheMasterOfItsKeysSlot(t *testing.T) {
	peer := testpeer.RedisCluster(t)
	r := openRedis(t, store.RedisOptions{Addrs: peer.Addrs(), KeyPrefix: waitPrefix, WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	ctx := t.Context()
	onMaster := map[string]*redis.Client{}
	for _, addr := range peer.Masters() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		if err := c.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		onMaster[addr] = c
	}
	users := make([]store.Key, 30) // one per realm: buckets all over the slots
	masterOf := map[store.Key]string{}
	want := map[string]int{}
	for i := range users {
		users[i] = accounts.Keys{Realm: fmt.Sprintf("r%d", i)}.User("alice")
		masterOf[users[i]] = peer.MasterOfKey(rawKey(users[i]))
		want[masterOf[users[i]]]++
	}
	if len(want) < 2 {
		t.Fatalf("the users' buckets are on %d master(s): the test needs them on several", len(want))
	}
	for _, k := range users {
		if err := r.Put(ctx, k, []byte(`{}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	for addr, c := range onMaster {
		if got := commandCalls(t, c, "wait"); got != want[addr] {
			t.Errorf("master %s ran WAIT %d times; want %d, one per write of a key it serves", addr, got, want[addr])
		}
	}

	// Without acknowledgements from one master's replica, only the writes
	// of that master's keys fail (soon: they wait little).
	impatient := openRedis(t, store.RedisOptions{Addrs: peer.Addrs(), KeyPrefix: waitPrefix, WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
	victim := masterOf[users[0]]
	testpeer.FreezeServer(t, replicaOf(t, onMaster[victim]))
	for _, k := range users {
		if masterOf[k] == victim {
			if err := impatient.Put(ctx, k, []byte(`{"v":2}`), 0); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("write of %s, whose master's replica is frozen: err = %v, want ErrUnavailable", k.Bucket, err)
			}
		} else if err := r.Put(ctx, k, []byte(`{"v":2}`), 0); err != nil {
			t.Errorf("write of %s on another master: %v", k.Bucket, err)
		}
	}
}

// replicaOf is the address of a master's (first) replica.
func replicaOf(t *testing.T, master *redis.Client) string {
	t.Helper()
	info, err := master.Info(t.Context(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, line, found := strings.Cut(info, "slave0:")
	ip, port := "", ""
	for field := range strings.SplitSeq(strings.Fields(line + " ")[0], ",") {
		if v, ok := strings.CutPrefix(field, "ip="); ok {
			ip = v
		}
		if v, ok := strings.CutPrefix(field, "port="); ok {
			port = v
		}
	}
	if !found || ip == "" || port == "" {
		t.Fatalf("the master names no replica:\n%s", info)
	}
	return ip + ":" + port
}
