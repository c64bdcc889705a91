package testpeer

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The processes of a RedisClusterPeer.

// clusterNode is one redis-server of the cluster.
type clusterNode struct {
	port, busPort int
	dir           string

	mu     sync.Mutex    // guards the fields below
	cmd    *exec.Cmd     // nil once killed
	client *redis.Client // the test's own connection, for CLUSTER and INFO
	exited chan struct{}
	output *syncBuffer
}

func (n *clusterNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// launchAll starts the six nodes on fresh ports.
func (c *RedisClusterPeer) launchAll() error {
	ports, err := distinctFreePorts(12)
	if err != nil {
		return err
	}
	c.nodes = nil
	for i := range 6 {
		n := &clusterNode{port: ports[2*i], busPort: ports[2*i+1], dir: c.t.TempDir()}
		// Registered after the directory's cleanup, so it runs first: a
		// live server would write into the directory being removed.
		c.t.Cleanup(func() { n.kill() })
		c.nodes = append(c.nodes, n)
		if err := n.launch(c.bin); err != nil {
			return fmt.Errorf("node %s: %w", n.addr(), err)
		}
	}
	return nil
}

// launch starts the node and waits until it answers PING.
func (n *clusterNode) launch(bin string) error {
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(n.port),
		// Chosen too: the default, port+10000, may be taken.
		"--cluster-port", strconv.Itoa(n.busPort),
		"--bind", "127.0.0.1",
		"--daemonize", "no",
		"--dir", n.dir,
		"--save", "",
		// As the README recommends running Redis.
		"--appendonly", "yes", "--appendfsync", "everysec",
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout/time.Millisecond)),
		// A replica takes over however long ago it last heard from its
		// master: on a loaded machine its slots must not stay unserved.
		"--cluster-replica-validity-factor", "0",
		// A new replica's first sync starts at once, not after the 5s a
		// master waits for more replicas to share it; and the replication
		// offset, which the cluster shows a replica by only once it moved,
		// moves within a second, not ten.
		"--repl-diskless-sync-delay", "0",
		"--repl-ping-replica-period", "1",
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	client := redis.NewClient(&redis.Options{
		Addr: n.addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: -1, DisableIdentity: true,
	})
	n.mu.Lock()
	n.cmd, n.client, n.exited, n.output = cmd, client, exited, out
	n.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		err := client.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v (last: %v)", startTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *clusterNode) conn() *redis.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.client
}

// kill sends SIGKILL and waits for the exit; false if it was not running.
func (n *clusterNode) kill() bool {
	n.mu.Lock()
	cmd, client, exited := n.cmd, n.client, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return false
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
	_ = client.Close()
	return true
}

// freeze stops the node (SIGSTOP) until the returned thaw, or the end of
// the test.
func (n *clusterNode) freeze(t testing.TB) (thaw func()) {
	t.Helper()
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		t.Fatalf("testpeer: %s is not running", n.addr())
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testpeer: SIGSTOP %s: %v", n.addr(), err)
	}
	thaw = func() { _ = cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(thaw)
	return thaw
}

func (n *clusterNode) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

func (c *RedisClusterPeer) live() []*clusterNode {
	var out []*clusterNode
	for _, n := range c.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

func (c *RedisClusterPeer) node(addr string) *clusterNode {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.addr() == addr {
			return n
		}
	}
	c.t.Fatalf("testpeer: %s is not a node of this cluster", addr)
	return nil
}

func (c *RedisClusterPeer) outputs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		n.mu.Lock()
		out := n.output
		n.mu.Unlock()
		if out != nil {
			fmt.Fprintf(&b, "--- %s\n%s", n.addr(), out.String())
		}
	}
	return b.String()
}

// distinctFreePorts returns n ports that were free a moment ago, held
// together while chosen so that none repeats.
func distinctFreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
