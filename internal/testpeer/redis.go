package testpeer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisPeer is a redis-server private to one test, listening on 127.0.0.1.
// It can be stopped and started again on the same port and directory, so a
// test can watch a client lose Redis and get it back.
type RedisPeer struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	persist bool
	cluster bool

	mu     sync.Mutex // guards cmd, exited and output
	cmd    *exec.Cmd  // nil while stopped
	exited chan struct{}
	output *syncBuffer
}

// RedisOption configures Redis.
type RedisOption func(*RedisPeer)

// WithPersistence makes the server write every change to an append-only
// file before answering, so data survives Stop and Start (even though Stop
// kills the server).
func WithPersistence() RedisOption {
	return func(p *RedisPeer) { p.persist = true }
}

// WithCluster runs the server in cluster mode as a one-node cluster that
// serves every slot: enough to check that a client copes with cluster rules
// (keys of one command or script in one slot) without several servers.
func WithCluster() RedisOption {
	return func(p *RedisPeer) { p.cluster = true }
}

// Redis starts a redis-server for the test and kills it when the test ends.
// The server keeps nothing on disk unless WithPersistence is given.
func Redis(t testing.TB, opts ...RedisOption) *RedisPeer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: %s", installHint)
	}
	p := &RedisPeer{t: t, bin: bin, dir: t.TempDir()}
	for _, opt := range opts {
		opt(p)
	}
	t.Cleanup(p.Stop)
	for attempt := 1; ; attempt++ {
		p.port = freePort(t)
		err := p.launch()
		if err == nil {
			return p
		}
		// Exiting before answering usually means another process took the
		// port between freePort and the bind: try another one.
		if !errors.Is(err, errExited) || attempt == 3 {
			t.Fatalf("testpeer: redis-server: %v\n%s", err, p.outputText())
		}
	}
}

// Addr is the server's host:port.
func (p *RedisPeer) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// URL is the server's address as a redis:// URL, database 0.
func (p *RedisPeer) URL() string { return "redis://" + p.Addr() + "/0" }

// Stop kills the server (as a crash would) and waits until it is gone.
// Stopping a stopped server does nothing.
func (p *RedisPeer) Stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // works on a paused process too
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("testpeer: redis-server did not exit within 10s of SIGKILL")
	}
}

// Start starts a stopped server again on the same port and directory.
func (p *RedisPeer) Start() {
	p.t.Helper()
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		p.t.Fatalf("testpeer: Start: redis-server is already running")
	}
	if err := p.launch(); err != nil {
		p.t.Fatalf("testpeer: restarting redis-server on port %d: %v\n%s", p.port, err, p.outputText())
	}
}

// Pause freezes the server for d (SIGSTOP, then SIGCONT) and returns at
// once: connections stay open but nothing answers, like a hung or
// overloaded Redis.
func (p *RedisPeer) Pause(d time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		p.t.Fatalf("testpeer: Pause: redis-server is not running")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("testpeer: pausing redis-server: %v", err)
	}
	// After a Stop, the signal finds no process; that is fine.
	time.AfterFunc(d, func() { _ = cmd.Process.Signal(syscall.SIGCONT) })
}

// launch starts redis-server on p.port and waits until it answers PING.
func (p *RedisPeer) launch() error {
	args := []string{
		"--port", strconv.Itoa(p.port),
		"--bind", "127.0.0.1",
		"--save", "", // no snapshots
		"--daemonize", "no",
		"--dir", p.dir,
	}
	if p.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if p.cluster {
		// nodes.conf in the directory keeps the slots across a restart.
		args = append(args, "--cluster-enabled", "yes")
	}
	cmd := exec.Command(p.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited, p.output = cmd, exited, out
	p.mu.Unlock()

	if err := p.waitForPong(exited); err != nil {
		p.Stop()
		return err
	}
	if p.cluster {
		if err := p.serveAllSlots(); err != nil {
			p.Stop()
			return err
		}
	}
	return nil
}

// serveAllSlots makes a new cluster node own every slot (a restarted one
// already does) and waits until the cluster reports itself ok.
func (p *RedisPeer) serveAllSlots() error {
	info, err := p.command("CLUSTER", "INFO")
	if err != nil {
		return err
	}
	if strings.Contains(info, "cluster_slots_assigned:0") {
		if _, err := p.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(info, "cluster_state:ok") {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok within %v:\n%s", startTimeout, info)
		}
		time.Sleep(20 * time.Millisecond)
		if info, err = p.command("CLUSTER", "INFO"); err != nil {
			return err
		}
	}
	return nil
}

// waitForPong polls PING until the server answers PONG (not LOADING, which
// a server replaying its append-only file says first).
func (p *RedisPeer) waitForPong(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		if last = p.ping(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v (last: %v)", startTimeout, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *RedisPeer) ping() error {
	reply, err := p.command("PING")
	if err == nil && reply != "PONG" {
		err = fmt.Errorf("PING answered %q", reply)
	}
	return err
}

// command sends one command on a new connection and returns a status or
// bulk string reply; an error reply is an error.
func (p *RedisPeer) command(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	req := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		req += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: unexpected reply %q", args[0], line)
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			return "", err
		}
		return string(body[:n]), nil
	default:
		return "", fmt.Errorf("%s answered %q", args[0], line)
	}
}

func (p *RedisPeer) outputText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.output == nil {
		return ""
	}
	return p.output.String()
}
