package testpeer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SentinelName is the name the Sentinels know the master by.
const SentinelName = "twofactor"

// Sentinels is a Redis Sentinel deployment private to one test: one
// master, two replicas and three Sentinels (a quorum of two), all on
// 127.0.0.1, tuned to notice a dead master within a second.
type Sentinels struct {
	t       testing.TB
	Servers []*RedisPeer // the master at start, then its replicas
	ports   []int        // the Sentinels'
	mu      sync.Mutex
	cmds    []*exec.Cmd
	exited  []chan struct{}
}

// failoverBound is how long a test waits for the Sentinels to promote a
// replica: they need a second to agree a master is down, then a few to
// elect a leader and reconfigure; on a loaded machine more.
const failoverBound = 60 * time.Second

// RedisSentinel starts the deployment and stops it when the test ends.
func RedisSentinel(t testing.TB) *Sentinels {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		t.Fatalf("redis-sentinel not found: %s", installHint)
	}
	s := &Sentinels{t: t}
	for range 3 {
		s.Servers = append(s.Servers, Redis(t))
	}
	master := s.Servers[0]
	for _, r := range s.Servers[1:] {
		if _, err := r.command("REPLICAOF", "127.0.0.1", strconv.Itoa(master.port)); err != nil {
			t.Fatalf("testpeer: REPLICAOF: %v", err)
		}
	}
	s.waitReplicasInSync(master)
	t.Cleanup(s.stopSentinels)
	for i := range 3 {
		port := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"dir " + dir,
			"sentinel resolve-hostnames no",
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", SentinelName, master.port),
			"sentinel down-after-milliseconds " + SentinelName + " 1000",
			"sentinel failover-timeout " + SentinelName + " 10000",
			"sentinel parallel-syncs " + SentinelName + " 2",
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, conf)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		setParentDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatalf("testpeer: redis-sentinel %d: %v", i, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		s.mu.Lock()
		s.ports, s.cmds, s.exited = append(s.ports, port), append(s.cmds, cmd), append(s.exited, exited)
		s.mu.Unlock()
	}
	// Ready: every Sentinel sees the master with both replicas and the
	// other two Sentinels.
	s.waitFor("the Sentinels to know each other and the replicas", func() bool {
		for _, p := range s.ports {
			info, err := s.sentinelInfo(p)
			if err != nil || !strings.Contains(info, "status=ok") || !strings.Contains(info, "slaves=2") || !strings.Contains(info, "sentinels=3") {
				return false
			}
		}
		return true
	})
	return s
}

// Addrs are the Sentinels' addresses.
func (s *Sentinels) Addrs() []string {
	out := make([]string, len(s.ports))
	for i, p := range s.ports {
		out[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return out
}

// URL is the store's address of the deployment: the Sentinels and the
// master's name.
func (s *Sentinels) URL() string {
	return "redis://" + strings.Join(s.Addrs(), ",") + "?master_name=" + SentinelName
}

// Master is the server every Sentinel names the master.
func (s *Sentinels) Master() *RedisPeer {
	s.t.Helper()
	var addr string
	s.waitFor("the Sentinels to agree on a master", func() bool {
		addr = s.agreedMaster()
		return addr != ""
	})
	return s.server(addr)
}

// agreedMaster is the master's address if every Sentinel names the same
// one and it says it is a master; "" otherwise.
func (s *Sentinels) agreedMaster() string {
	var addr string
	for _, p := range s.ports {
		info, err := s.sentinelInfo(p)
		if err != nil || !strings.Contains(info, "status=ok") {
			return ""
		}
		a := field(info, "address=")
		if addr != "" && a != addr {
			return ""
		}
		addr = a
	}
	if srv := s.server(addr); srv == nil || !srv.isMaster() {
		return ""
	}
	return addr
}

// Failover asks the Sentinels for a failover (SENTINEL FAILOVER, as an
// operator's maintenance would) and waits until a replica is master.
func (s *Sentinels) Failover() *RedisPeer {
	s.t.Helper()
	old := s.Master()
	if _, err := s.sentinelCommand(s.ports[0], "SENTINEL", "FAILOVER", SentinelName); err != nil {
		s.t.Fatalf("testpeer: SENTINEL FAILOVER: %v", err)
	}
	return s.waitNewMaster(old)
}

// KillMaster kills the master with SIGKILL, as a crash would, and waits
// until a replica is promoted. It returns the dead server (Start brings it
// back, and the Sentinels make it a replica) and the new master.
func (s *Sentinels) KillMaster() (dead, master *RedisPeer) {
	s.t.Helper()
	old := s.Master()
	old.Stop()
	return old, s.waitNewMaster(old)
}

func (s *Sentinels) waitNewMaster(old *RedisPeer) *RedisPeer {
	s.t.Helper()
	var now string
	s.waitFor("a replica to be promoted", func() bool {
		now = s.agreedMaster()
		return now != "" && now != old.Addr()
	})
	return s.server(now)
}

// waitReplicasInSync waits until the master's replicas are online.
func (s *Sentinels) waitReplicasInSync(master *RedisPeer) {
	s.waitFor("the replicas to sync", func() bool {
		info, err := master.command("INFO", "replication")
		return err == nil && strings.Contains(info, "connected_slaves:2") && strings.Count(info, "state=online") == 2
	})
}

func (s *Sentinels) server(addr string) *RedisPeer {
	for _, r := range s.Servers {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}

func (p *RedisPeer) isMaster() bool {
	info, err := p.command("INFO", "replication")
	return err == nil && strings.Contains(info, "role:master")
}

func (s *Sentinels) sentinelInfo(port int) (string, error) {
	return s.sentinelCommand(port, "INFO", "sentinel")
}

// sentinelCommand talks to one Sentinel as to a server on its port.
func (s *Sentinels) sentinelCommand(port int, args ...string) (string, error) {
	return (&RedisPeer{port: port}).command(args...)
}

// field is the value after key in a Sentinel's INFO line, up to a comma.
func field(info, key string) string {
	i := strings.Index(info, key)
	if i < 0 {
		return ""
	}
	v := info[i+len(key):]
	if j := strings.IndexAny(v, ",\r\n"); j >= 0 {
		v = v[:j]
	}
	return v
}

func (s *Sentinels) waitFor(what string, ok func() bool) {
	s.t.Helper()
	err := poll(failoverBound, func() error {
		if !ok() {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		s.t.Fatalf("testpeer: waited %v for %s", failoverBound, what)
	}
}

func (s *Sentinels) stopSentinels() {
	s.mu.Lock()
	cmds, exited := s.cmds, s.exited
	s.cmds = nil
	s.mu.Unlock()
	for i, cmd := range cmds {
		_ = cmd.Process.Kill()
		select {
		case <-exited[i]:
		case <-time.After(10 * time.Second):
			s.t.Error(errors.New("testpeer: redis-sentinel did not exit within 10s of SIGKILL"))
		}
	}
}
