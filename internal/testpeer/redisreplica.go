package testpeer

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// replicaBound bounds the waits for a replica to sync and for a server to
// stop: both take milliseconds, but a loaded machine may take seconds.
const replicaBound = 30 * time.Second

// RedisReplica starts a redis-server replicating master and returns once
// it acknowledges the master's writes: a replica the master counts online
// may take a second more before it answers WAIT.
func RedisReplica(t testing.TB, master *RedisPeer) *RedisPeer {
	t.Helper()
	// The master otherwise waits 5s for more replicas before a full sync.
	if _, err := master.command("CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		t.Fatalf("testpeer: CONFIG SET on the master: %v", err)
	}
	replica := Redis(t)
	if _, err := replica.command("REPLICAOF", "127.0.0.1", strconv.Itoa(master.port)); err != nil {
		t.Fatalf("testpeer: REPLICAOF: %v", err)
	}
	online := "port=" + strconv.Itoa(replica.port) + ",state=online"
	pollFor(t, "the replica to sync with its master", func() error {
		info, err := master.command("INFO", "replication")
		if err == nil && !strings.Contains(info, online) {
			err = fmt.Errorf("the master's INFO replication lacks %q:\n%s", online, info)
		}
		if err == nil {
			err = everyReplicaAcknowledges(master, infoField(info, "connected_slaves"))
		}
		return err
	})
	return replica
}

// everyReplicaAcknowledges writes (and removes) a key on the master and
// asks WAIT, on the same connection, for that many replicas within a
// second.
func everyReplicaAcknowledges(master *RedisPeer, replicas string) error {
	conn, err := net.DialTimeout("tcp", master.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	const probe = "testpeer:replica-probe"
	req := respCommand("SET", probe, "1") + respCommand("DEL", probe) + respCommand("WAIT", replicas, "1000")
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	rd := bufio.NewReader(conn)
	var replies []string
	for range 3 {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		replies = append(replies, strings.TrimSpace(line))
	}
	if replies[2] != ":"+replicas {
		return fmt.Errorf("SET, DEL, WAIT %s answered %q", replicas, replies)
	}
	return nil
}

// respCommand is one command in the Redis protocol.
func respCommand(args ...string) string {
	out := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		out += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	return out
}

// FreezeServer stops the redis-server at addr (SIGSTOP) and returns once
// the kernel reports it stopped: from then on it answers nothing and
// acknowledges no replication, though its connections stay open. thaw
// resumes it; so does the end of the test. Only a server this process
// started is frozen.
func FreezeServer(t testing.TB, addr string) (thaw func()) {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("testpeer: FreezeServer(%q): %v", addr, err)
	}
	n, _ := strconv.Atoi(port)
	info, err := (&RedisPeer{port: n}).command("INFO", "server")
	if err != nil {
		t.Fatalf("testpeer: INFO server of %s: %v", addr, err)
	}
	pid, err := strconv.Atoi(infoField(info, "process_id"))
	if err != nil {
		t.Fatalf("testpeer: no process_id in INFO server of %s", addr)
	}
	if _, parent, err := processState(pid); err != nil || parent != os.Getpid() {
		t.Fatalf("testpeer: the server at %s (pid %d) is not this test's (parent %d, %v)", addr, pid, parent, err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("testpeer: SIGSTOP %d: %v", pid, err)
	}
	thaw = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(thaw)
	pollFor(t, "the frozen server to stop", func() error {
		state, _, err := processState(pid)
		if err == nil && state != "T" {
			err = fmt.Errorf("process %d is in state %s", pid, state)
		}
		return err
	})
	return thaw
}

// processState reads a process's state letter and parent from /proc.
func processState(pid int) (state string, parent int, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+1:])
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return "", 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, raw)
	}
	parent, err = strconv.Atoi(fields[1])
	return fields[0], parent, err
}

// infoField is the value of one "name:value" line of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// pollFor polls check until it succeeds, failing the test with its last
// error after replicaBound.
func pollFor(t testing.TB, what string, check func() error) {
	t.Helper()
	if err := poll(replicaBound, check); err != nil {
		t.Fatalf("testpeer: waited %v for %s: %v", replicaBound, what, err)
	}
}

// poll calls check every 20 ms until it returns nil, and returns its last
// error once bound has passed: the bound only catches a hang.
func poll(bound time.Duration, check func() error) error {
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
