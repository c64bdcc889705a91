// Package testpeer starts real programs for tests to talk to (Redis, and
// emulators of the AWS services caddy2fa sends through) and reads back what
// they received. Each peer binds 127.0.0.1 on a free port and is stopped when
// the test that started it ends. A missing peer fails the test: install peers with
// ./scripts/install-test-deps.sh.
package testpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const installHint = "run ./scripts/install-test-deps.sh"

// How long a peer may take to answer its first request; Node starts in well
// under a second, but a loaded CI machine can be slow.
const startTimeout = 20 * time.Second

// FakeAWSEnv returns environment entries (KEY=VALUE) that make the AWS SDK's
// default credential chain find fake static credentials and region instead
// of a developer's profile or an instance role. The emulators accept any
// credentials.
func FakeAWSEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// UseFakeAWSEnv sets FakeAWSEnv in this process's environment, for a test
// binary whose AWS clients must not find the machine's own credentials.
func UseFakeAWSEnv() {
	for _, kv := range FakeAWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
}

// NodeDir is where the Node packages the tests use are installed (by
// scripts/install-test-deps.sh), with the scripts that import them.
func NodeDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "internal", "testpeer", "testdata", "node")
}

// NodeModules is the node_modules folder of those packages.
func NodeModules(t testing.TB) string { return filepath.Join(NodeDir(t), "node_modules") }

// repoRoot finds the module root (the directory holding go.mod) from the
// working directory, which is the package directory under go test.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testpeer: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testpeer: no go.mod above the working directory")
		}
		dir = parent
	}
}

// requireFile fails the test when an installed dependency is missing.
func requireFile(t testing.TB, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("testpeer: %s is not installed (%s missing): %s", what, path, installHint)
	}
}

func requireNode(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("testpeer: node is not on PATH: %s", installHint)
	}
	return node
}

// freePort asks the kernel for an unused port. Another process may take it
// before the peer binds it, so starters retry with a new port when the peer
// exits at once.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testpeer: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is one running peer.
type process struct {
	name    string
	baseURL string
	cmd     *exec.Cmd
	stdin   io.WriteCloser // held open: the SNS runner exits when it closes
	output  *syncBuffer
	exited  chan struct{}
	waitErr error

	stopOnce sync.Once
	http     *http.Client
}

// startProcess runs argv(port) and waits until GET readyPath answers 2xx.
// A process that exits before it is ready (the port was taken meanwhile) is
// retried on a new port.
func startProcess(t testing.TB, name, dir, readyPath string, argv func(port int) []string) *process {
	t.Helper()
	var last *process
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		p, err := launch(name, dir, port, argv(port))
		if err != nil {
			t.Fatalf("testpeer: starting %s: %v", name, err)
		}
		if err := p.waitReady(readyPath); err != nil {
			p.Stop()
			last = p
			if errors.Is(err, errExited) {
				continue
			}
			t.Fatalf("testpeer: %s: %v\n%s", name, err, p.output.String())
		}
		t.Cleanup(p.Stop)
		return p
	}
	t.Fatalf("testpeer: %s exited before it was ready: %v\n%s", name, last.waitErr, last.output.String())
	return nil
}

var errExited = errors.New("exited before it was ready")

func launch(name, dir string, port int, argv []string) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = peerEnv()
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	setParentDeathSignal(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{
		name:    name,
		baseURL: "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:     cmd,
		stdin:   stdin,
		output:  out,
		exited:  make(chan struct{}),
		http:    &http.Client{Timeout: 5 * time.Second},
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// peerEnv is the test's environment without settings that would make the
// emulators reach out (aws-ses-v2-local relays to SMTP when SMTP_TRANSPORT
// is set).
func peerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "SMTP_TRANSPORT" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// setParentDeathSignal asks Linux to kill the peer if the test binary dies
// without running its cleanups. The field exists only on Linux, hence
// reflection rather than a build-tagged file per platform.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	field := reflect.ValueOf(cmd.SysProcAttr).Elem().FieldByName("Pdeathsig")
	if field.IsValid() && field.CanSet() {
		field.Set(reflect.ValueOf(syscall.SIGKILL))
	}
}

func (p *process) waitReady(path string) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.exited:
			return errExited
		default:
		}
		resp, err := client.Get(p.baseURL + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last error: %v)", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the peer and waits for it to exit. Safe to call more than once.
func (p *process) Stop() {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
	})
}

// getJSON reads a peer's JSON endpoint into v.
func (p *process) getJSON(path string, v any) error {
	return p.do(http.MethodGet, path, v)
}

func (p *process) post(path string) error {
	return p.do(http.MethodPost, path, nil)
}

func (p *process) do(method, path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.baseURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// syncBuffer collects a peer's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
