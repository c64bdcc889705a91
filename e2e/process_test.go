package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Integration tests run the real Caddy binary (cmd/caddy, built once per
// test run) as a child process: what operators run, restarts included.

var (
	buildOnce sync.Once
	caddyBin  string
	buildErr  error
)

func caddyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs the Caddy binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "caddy2fa-bin-")
		if err != nil {
			buildErr = err
			return
		}
		caddyBin = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBin
}

func freePort(t *testing.T) int { return freePorts(t, 1)[0] }

// freePorts returns n ports that were free a moment ago, all different:
// they are held together while chosen. (Chosen one after the other, two
// could be the same port, and Caddy's admin endpoint would then answer on
// the site's port.)
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// caddyProc is one running Caddy.
type caddyProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	logs    *syncBuffer
	dir     string
	config  string
	adapter string
	env     []string // extra environment (AWS credentials for the emulators)
	URL     string
	port    int
	admin   int
	exited  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCaddy writes the Caddyfile (with {PORT}, {ADMIN} and {DIR} filled
// in) and runs Caddy until the test ends.
func startCaddy(t *testing.T, dir, caddyfile string, env ...string) *caddyProc {
	t.Helper()
	ports := freePorts(t, 2)
	p := &caddyProc{t: t, dir: dir, port: ports[0], admin: ports[1], env: env}
	p.URL = fmt.Sprintf("http://127.0.0.1:%d", p.port)
	caddyfile = strings.NewReplacer("{PORT}", fmt.Sprint(p.port), "{ADMIN}", fmt.Sprint(p.admin), "{DIR}", dir).Replace(caddyfile)
	p.config = filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(p.config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *caddyProc) start() {
	t := p.t
	t.Helper()
	p.logs = &syncBuffer{}
	args := []string{"run", "--config", p.config}
	if p.adapter != "json" {
		args = append(args, "--adapter", "caddyfile")
	}
	p.cmd = exec.Command(caddyBinary(t), args...)
	p.cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(p.dir, "xdg-config"),
		"XDG_DATA_HOME="+filepath.Join(p.dir, "xdg-data"),
		"HOME="+p.dir,
	)
	p.cmd.Env = append(p.cmd.Env, p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("caddy exited at start:\n%s", p.logs)
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("caddy did not listen within 20s:\n%s", p.logs)
}

func (p *caddyProc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *caddyProc) restart() {
	p.stop()
	p.start()
}

// client is a browser: cookies, no automatic redirects.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type resp struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (c *client) do(method, path string, form url.Values, headers ...string) resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	r, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, location: r.Header.Get("Location"), body: string(b), header: r.Header}
}

func (c *client) get(path string, headers ...string) resp {
	return c.do(http.MethodGet, path, nil, headers...)
}

// follow GETs and follows redirects, returning the final answer and the
// path it came from.
func (c *client) follow(path string) (resp, string) {
	c.t.Helper()
	for range 12 {
		r := c.get(path)
		if r.status < 300 || r.status >= 400 {
			return r, path
		}
		u, err := url.Parse(r.location)
		if err != nil {
			c.t.Fatal(err)
		}
		path = u.RequestURI()
	}
	c.t.Fatal("too many redirects")
	return resp{}, ""
}

// pollUntil polls cond until it holds, failing with what it last saw after
// bound: the bound only catches a hang.
func pollUntil(t *testing.T, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, bound, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUntil is pollUntil for a condition with nothing to show.
func waitUntil(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	pollUntil(t, bound, what, func() (bool, string) { return cond(), "nothing to show" })
}
