package testpeer

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodeTimeout is how long a node may be silent before the others
// count it as failed: short, so a failover takes seconds, yet long enough
// that a node starved of CPU on a loaded machine is not failed over by
// mistake.
const clusterNodeTimeout = 2 * time.Second

// clusterSettleBound bounds every wait for the cluster to form or heal.
const clusterSettleBound = 60 * time.Second

// RedisClusterPeer is a Redis Cluster private to one test: three masters
// with one replica each, six redis-server processes on 127.0.0.1, killed
// when the test ends.
type RedisClusterPeer struct {
	t     testing.TB
	bin   string
	nodes []*clusterNode

	mu     sync.Mutex              // guards killed
	killed map[string]killedMaster // by address
}

// killedMaster is what a master KillMaster killed served, and who could
// take over.
type killedMaster struct {
	served   []redis.SlotRange
	replicas []string
}

// RedisCluster starts six nodes, joins them with redis-cli --cluster
// create as three masters with a replica each, and waits until every node
// says the cluster is ok and every replica is in sync.
func RedisCluster(t testing.TB) *RedisClusterPeer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: %s", installHint)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found: %s", installHint)
	}
	c := &RedisClusterPeer{t: t, bin: bin, killed: map[string]killedMaster{}}
	for attempt := 1; ; attempt++ {
		err := c.launchAll()
		if err == nil {
			break
		}
		for _, n := range c.nodes {
			n.kill()
		}
		// A node exiting at start usually lost its port to another process
		// between choosing and binding: choose again.
		if !errors.Is(err, errExited) || attempt == 3 {
			t.Fatalf("testpeer: redis cluster: %v\n%s", err, c.outputs())
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testpeer: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitFor("the new cluster to be ok with every replica in sync", c.unhealthy)
	return c
}

// Addrs are every node's host:port, masters and replicas: seed addresses
// for a cluster client.
func (c *RedisClusterPeer) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr()
	}
	return out
}

// KeySlot is the hash slot of key, as the cluster computes it.
func (c *RedisClusterPeer) KeySlot(key string) int {
	c.t.Helper()
	for _, n := range c.live() {
		if slot, err := n.conn().ClusterKeySlot(context.Background(), key).Result(); err == nil {
			return int(slot)
		}
	}
	c.t.Fatalf("testpeer: no node answered CLUSTER KEYSLOT")
	return 0
}

// MasterOf is the address of the master serving slot, as the live nodes
// see it now.
func (c *RedisClusterPeer) MasterOf(slot int) string {
	c.t.Helper()
	for _, sh := range c.shards() {
		if servesSlot(sh, int64(slot)) {
			return masterOf(sh)
		}
	}
	c.t.Fatalf("testpeer: no master serves slot %d", slot)
	return ""
}

// MasterOfKey is the address of the master serving key's slot.
func (c *RedisClusterPeer) MasterOfKey(key string) string {
	c.t.Helper()
	return c.MasterOf(c.KeySlot(key))
}

// Masters are the addresses of the masters serving slots.
func (c *RedisClusterPeer) Masters() []string {
	c.t.Helper()
	var out []string
	for _, sh := range c.shards() {
		if len(sh.Slots) > 0 {
			out = append(out, masterOf(sh))
		}
	}
	return out
}

// KillMaster kills the master at addr with SIGKILL, as a crash would: what
// it acknowledged but had not yet sent to its replica is gone. It returns
// once the process has exited.
func (c *RedisClusterPeer) KillMaster(addr string) {
	c.t.Helper()
	sh, ok := c.shardOf(addr)
	if !ok || len(sh.Slots) == 0 {
		c.t.Fatalf("testpeer: KillMaster: %s is not a master serving slots", addr)
	}
	c.mu.Lock()
	c.killed[addr] = killedMaster{served: sh.Slots, replicas: replicasIn(sh)}
	c.mu.Unlock()
	if !c.node(addr).kill() {
		c.t.Fatalf("testpeer: KillMaster: %s is not running", addr)
	}
}

// WaitPromoted waits until a replica of the master KillMaster killed at
// dead serves every slot that master served, as every live node sees it,
// and every live node says the cluster is ok; it returns the new master.
func (c *RedisClusterPeer) WaitPromoted(dead string) string {
	c.t.Helper()
	c.mu.Lock()
	old, ok := c.killed[dead]
	c.mu.Unlock()
	if !ok {
		c.t.Fatalf("testpeer: WaitPromoted: KillMaster did not kill %s", dead)
	}
	var heir string
	c.waitFor("a replica of "+dead+" to take over its slots", func() string {
		var why string
		heir, why = c.promotedFor(old)
		return why
	})
	return heir
}

// Restart starts the node KillMaster killed at addr again, on its port
// and directory, as an operator brings a crashed server back: it rejoins
// as a replica of the master that took over its slots. It returns once
// the cluster is whole again, every master with a replica in sync.
func (c *RedisClusterPeer) Restart(addr string) {
	c.t.Helper()
	n := c.node(addr)
	if n.running() {
		c.t.Fatalf("testpeer: Restart: %s is running", addr)
	}
	if err := n.launch(c.bin); err != nil {
		c.t.Fatalf("testpeer: restarting %s: %v\n%s", addr, err, c.outputs())
	}
	c.waitFor(addr+" to rejoin as a replica", c.unhealthy)
}

// promotedFor returns the former replica that every live node sees
// serving the slots old served, or why there is none yet.
func (c *RedisClusterPeer) promotedFor(old killedMaster) (string, string) {
	heir := ""
	for _, n := range c.live() {
		if why := n.clusterNotOK(); why != "" {
			return "", why
		}
		now, err := n.conn().ClusterShards(context.Background()).Result()
		if err != nil {
			return "", n.addr() + ": " + err.Error()
		}
		for _, was := range old.served {
			owner := ""
			for _, sh := range now {
				if servesSlot(sh, was.Start) && servesSlot(sh, was.End) {
					owner = masterOf(sh)
				}
			}
			if !slices.Contains(old.replicas, owner) || (heir != "" && owner != heir) {
				return "", fmt.Sprintf("%s sees slots %d-%d served by %q", n.addr(), was.Start, was.End, owner)
			}
			heir = owner
		}
	}
	return heir, ""
}

// CutOffReplica parts the master at addr from its replica, as a network
// partition would: the replica stops (SIGSTOP) and the master drops its
// replication link, so what the master acknowledges from then on reaches
// no replica. heal resumes the replica; so does the end of the test.
func (c *RedisClusterPeer) CutOffReplica(addr string) (heal func()) {
	c.t.Helper()
	sh, _ := c.shardOf(addr)
	replicas := replicasIn(sh)
	if len(replicas) != 1 {
		c.t.Fatalf("testpeer: CutOffReplica: %s has replicas %v, want one", addr, replicas)
	}
	heal = c.node(replicas[0]).freeze(c.t)
	if err := c.node(addr).conn().ClientKillByFilter(context.Background(), "TYPE", "replica").Err(); err != nil {
		c.t.Fatalf("testpeer: dropping the replication link of %s: %v", addr, err)
	}
	return heal
}

// WaitReplicated waits until every replica of the master at addr has
// acknowledged everything the master has written so far: for a master
// that is not being written to meanwhile (replicas acknowledge once a
// second).
func (c *RedisClusterPeer) WaitReplicated(addr string) {
	c.t.Helper()
	n := c.node(addr)
	c.waitFor("the replicas of "+addr+" to catch up", func() string {
		info, err := n.conn().Info(context.Background(), "replication").Result()
		if err != nil {
			return err.Error()
		}
		if !replicasCaughtUp(info) {
			return info
		}
		return ""
	})
}

// replicasCaughtUp reads a master's INFO replication: some replica is
// online, and each has acknowledged master_repl_offset.
func replicasCaughtUp(info string) bool {
	var want int64 = -1
	var acked []int64
	for line := range strings.Lines(info) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "master_repl_offset" {
			want, _ = strconv.ParseInt(value, 10, 64)
		}
		if strings.HasPrefix(name, "slave") && strings.Contains(value, "state=online") {
			for f := range strings.SplitSeq(value, ",") {
				if v, ok := strings.CutPrefix(f, "offset="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					acked = append(acked, n)
				}
			}
		}
	}
	return want >= 0 && len(acked) > 0 && !slices.ContainsFunc(acked, func(n int64) bool { return n < want })
}

// unhealthy says why the cluster is not yet whole: every node ok and
// knowing all six, three masters with a replica each, every replica's
// link to its master up. "" when it is.
func (c *RedisClusterPeer) unhealthy() string {
	ctx := context.Background()
	for _, n := range c.nodes {
		if why := n.clusterNotOK(); why != "" {
			return why
		}
		info, err := n.conn().ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes))) {
			return n.addr() + " does not know every node yet"
		}
		shards, err := n.conn().ClusterShards(ctx).Result()
		if err != nil {
			return n.addr() + ": " + err.Error()
		}
		serving := 0
		for _, sh := range shards {
			if len(sh.Slots) == 0 {
				continue
			}
			serving++
			if len(sh.Nodes) != 2 || slices.ContainsFunc(sh.Nodes, func(x redis.Node) bool { return x.Health != "online" }) {
				return fmt.Sprintf("%s sees the shard of %s as %+v, want a master and a replica online", n.addr(), masterOf(sh), sh.Nodes)
			}
		}
		if serving != 3 {
			return fmt.Sprintf("%s sees %d masters serving slots", n.addr(), serving)
		}
		repl, err := n.conn().Info(ctx, "replication").Result()
		if err != nil {
			return n.addr() + ": " + err.Error()
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return n.addr() + " has not synced with its master"
		}
		if strings.Contains(repl, "role:master") && !strings.Contains(repl, "state=online") {
			return n.addr() + " has no replica online"
		}
	}
	return ""
}

// clusterNotOK is "" when the node says cluster_state:ok, else why not.
func (n *clusterNode) clusterNotOK() string {
	info, err := n.conn().ClusterInfo(context.Background()).Result()
	switch {
	case err != nil:
		return n.addr() + ": " + err.Error()
	case !strings.Contains(info, "cluster_state:ok"):
		return n.addr() + " says the cluster is not ok"
	}
	return ""
}

// waitFor polls why until it returns "", failing the test with its last
// answer after clusterSettleBound.
func (c *RedisClusterPeer) waitFor(what string, why func() string) {
	c.t.Helper()
	err := poll(clusterSettleBound, func() error {
		if reason := why(); reason != "" {
			return errors.New(reason)
		}
		return nil
	})
	if err != nil {
		c.t.Fatalf("testpeer: waited %v for %s: %v\n%s", clusterSettleBound, what, err, c.outputs())
	}
}

// shards is CLUSTER SHARDS as the first live node that answers sees it.
func (c *RedisClusterPeer) shards() []redis.ClusterShard {
	c.t.Helper()
	err := errors.New("no node is running")
	for _, n := range c.live() {
		var shards []redis.ClusterShard
		if shards, err = n.conn().ClusterShards(context.Background()).Result(); err == nil {
			return shards
		}
	}
	c.t.Fatalf("testpeer: CLUSTER SHARDS: %v", err)
	return nil
}

// shardOf is the shard whose master is at addr.
func (c *RedisClusterPeer) shardOf(addr string) (redis.ClusterShard, bool) {
	c.t.Helper()
	for _, sh := range c.shards() {
		if masterOf(sh) == addr {
			return sh, true
		}
	}
	return redis.ClusterShard{}, false
}

func nodeAddr(n redis.Node) string { return n.IP + ":" + strconv.FormatInt(n.Port, 10) }

// masterOf is the address of the shard's master, "" if it has none.
func masterOf(sh redis.ClusterShard) string {
	for _, n := range sh.Nodes {
		if n.Role == "master" {
			return nodeAddr(n)
		}
	}
	return ""
}

// replicasIn are the addresses of the shard's replicas, failed ones too:
// a replica the cluster counts as failed (frozen, say) may still take
// over.
func replicasIn(sh redis.ClusterShard) []string {
	var out []string
	for _, n := range sh.Nodes {
		if n.Role == "replica" {
			out = append(out, nodeAddr(n))
		}
	}
	return out
}

func servesSlot(sh redis.ClusterShard, slot int64) bool {
	return slices.ContainsFunc(sh.Slots, func(r redis.SlotRange) bool { return r.Start <= slot && slot <= r.End })
}
