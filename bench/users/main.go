// Command users drives the real challenge pages of a running Caddy with
// many distinct users, as browsers would (no shortcut through the store):
//
//	users enroll -url URL -n N   enroll N users with TOTP, then one request
//	                             each through the gate (memory benchmark)
//	users verify -url URL -n N   enroll N users, open a new app session for
//	                             each, then time the verification POSTs
//	                             (challenge-path throughput)
//
// Identity comes from a trusted header (-header); -session-cookie names the
// app's session cookie, so a new value needs a new verification.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters the pages announce (RFC 6238 defaults).
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var (
	reKey    = regexp.MustCompile(`id="totp-key">([A-Z2-7 ]+)<`)
	reCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	reAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

type config struct {
	base, header, prefix, appCookie string
	n, workers                      int
	timeout                         time.Duration
	// pprofURL, when set, is Caddy's admin endpoint: a CPU profile is
	// taken while the verification POSTs run.
	pprofURL, pprofOut string
	pprofSeconds       int
	// redisPort, when set, is the Redis server behind Caddy: the commands
	// it ran during the verification POSTs are counted (INFO commandstats).
	redisPort int
}

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: users enroll|verify [flags]")
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	var c config
	fs.StringVar(&c.base, "url", "", "the protected site, e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.header, "header", "X-User", "trusted identity header")
	fs.StringVar(&c.prefix, "prefix", "u", "user id prefix (ids are prefix + number)")
	fs.StringVar(&c.appCookie, "session-cookie", "", "the app's session cookie (verify needs it)")
	fs.IntVar(&c.n, "n", 1000, "number of distinct users")
	fs.IntVar(&c.workers, "workers", 16, "concurrent clients")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.StringVar(&c.pprofURL, "pprof-url", "", "verify: Caddy's admin address, to profile the verification POSTs")
	fs.StringVar(&c.pprofOut, "pprof-out", "verify.cpu.pprof", "verify: where the CPU profile goes")
	fs.IntVar(&c.pprofSeconds, "pprof-seconds", 3, "verify: profile length")
	fs.IntVar(&c.redisPort, "redis-port", 0, "verify: the local Redis Caddy uses, to count its commands per verification (needs redis-cli)")
	fs.Parse(os.Args[2:])
	for _, target := range []string{c.base, c.pprofURL} {
		if target != "" && !local(target) {
			log.Fatalf("%q: only a local http:// address is a target", target)
		}
	}
	c.base = strings.TrimSuffix(c.base, "/")
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var err error
	switch mode {
	case "enroll":
		err = runEnroll(ctx, c)
	case "verify":
		if c.appCookie == "" {
			log.Fatal("verify: -session-cookie is required (a new app session is what needs a new code)")
		}
		err = runVerify(ctx, c)
	default:
		log.Fatalf("unknown mode %q: use enroll or verify", mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// client is one browser: its user, cookies and what it learned.
type client struct {
	c       *config
	http    *http.Client
	user    string
	jar     map[string]string
	key     string // TOTP key, base32
	lastTOT int64  // last time step used, which the server refuses again
}

func newHTTP(workers int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxIdleConns: workers, DisableCompression: true},
		// Browsers follow redirects; we follow them by hand to check each.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

func (cl *client) do(ctx context.Context, method, path string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.c.base+path, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(cl.c.header, cl.user)
	req.Header.Set("Accept", "text/html")
	names := make([]string, 0, len(cl.jar))
	for k := range cl.jar {
		names = append(names, k)
	}
	slices.Sort(names)
	var cookies []string
	for _, k := range names {
		cookies = append(cookies, k+"="+cl.jar[k])
	}
	if len(cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(cl.jar, ck.Name)
		} else {
			cl.jar[ck.Name] = ck.Value
		}
	}
	return resp, string(b), err
}

func want(resp *http.Response, body string, status int, what string) error {
	if resp.StatusCode != status {
		return fmt.Errorf("%s: status %d, want %d (Location %q): %.200s", what, resp.StatusCode, status, resp.Header.Get("Location"), body)
	}
	return nil
}

// code is the TOTP code for the first time step after the last one used:
// the server refuses a step at or before the last it accepted.
func (cl *client) code() (string, error) {
	step := time.Now().Unix() / 30
	if step <= cl.lastTOT {
		step = cl.lastTOT + 1 // accepted: the server allows one step of drift
	}
	cl.lastTOT = step
	return totp.GenerateCodeCustom(cl.key, time.Unix(step*30, 0), totpOpts)
}

// enroll sets up TOTP through the pages and returns with a verified session.
func (cl *client) enroll(ctx context.Context) error {
	if cl.c.appCookie != "" {
		cl.jar[cl.c.appCookie] = randomHex()
	}
	resp, body, err := cl.do(ctx, "GET", "/.2fa/enroll/totp", nil)
	if err != nil {
		return err
	}
	if err := want(resp, body, http.StatusOK, "enroll page"); err != nil {
		return err
	}
	key, csrf, action := reKey.FindStringSubmatch(body), reCSRF.FindStringSubmatch(body), reAction.FindStringSubmatch(body)
	if key == nil || csrf == nil || action == nil {
		return errors.New("enroll page: no key, csrf token or form")
	}
	cl.key = strings.ReplaceAll(key[1], " ", "")
	return cl.postCode(ctx, "enroll code", action[1], csrf[1])
}

// throughGate is one request of a verified user to the app.
func (cl *client) throughGate(ctx context.Context) error {
	resp, body, err := cl.do(ctx, "GET", "/app/"+cl.user, nil)
	if err != nil {
		return err
	}
	if err := want(resp, body, http.StatusOK, "request through the gate"); err != nil {
		return err
	}
	if resp.Header.Get("X-Upstream") == "" {
		return errors.New("request through the gate: answered by Caddy, not the app")
	}
	return nil
}

// startChallenge is a new login to the app: the gate sends the browser to
// the code form, following the redirects a browser would.
func (cl *client) startChallenge(ctx context.Context) (action, csrf string, err error) {
	delete(cl.jar, "2fa_session")
	cl.jar[cl.c.appCookie] = randomHex()
	path := "/app/" + cl.user
	for hop := 0; hop < 5; hop++ {
		resp, body, err := cl.do(ctx, "GET", path, nil)
		if err != nil {
			return "", "", err
		}
		switch resp.StatusCode {
		case http.StatusFound, http.StatusSeeOther:
			path = resp.Header.Get("Location")
			continue
		case http.StatusOK:
			a, t := reAction.FindStringSubmatch(body), reCSRF.FindStringSubmatch(body)
			if a == nil || t == nil || !strings.Contains(path, "/verify/totp") {
				return "", "", fmt.Errorf("challenge: landed on %s without a code form", path)
			}
			return a[1], t[1], nil
		default:
			return "", "", want(resp, body, http.StatusOK, "challenge "+path)
		}
	}
	return "", "", errors.New("challenge: too many redirects")
}

// verify posts the code; it is what the throughput is measured on.
func (cl *client) verify(ctx context.Context, action, csrf string) error {
	return cl.postCode(ctx, "verify code", action, csrf)
}

// postCode submits the authenticator's current code to a code form; the
// answer must be a redirect that sets a verified session.
func (cl *client) postCode(ctx context.Context, what, action, csrf string) error {
	code, err := cl.code()
	if err != nil {
		return err
	}
	resp, body, err := cl.do(ctx, "POST", action, url.Values{"csrf": {csrf}, "code": {code}})
	if err != nil {
		return err
	}
	if err := want(resp, body, http.StatusSeeOther, what); err != nil {
		return err
	}
	if cl.jar["2fa_session"] == "" {
		return errors.New(what + ": no 2fa_session cookie")
	}
	return nil
}

// local reports whether target is an http:// URL on this machine.
func local(target string) bool {
	u, err := url.Parse(target)
	return err == nil && u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost")
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// parallel runs fn for each client on c.workers goroutines and returns the
// wall time and each call's latency; it stops at the first error.
func parallel(ctx context.Context, c config, clients []*client, fn func(context.Context, *client) error) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	lat := make([]time.Duration, len(clients))
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range c.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(clients) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := fn(ctx, clients[i]); err != nil {
					once.Do(func() { first = fmt.Errorf("user %s: %w", clients[i].user, err); cancel() })
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return time.Since(start), lat, first
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func makeClients(c config) []*client {
	h := newHTTP(c.workers)
	out := make([]*client, c.n)
	for i := range out {
		out[i] = &client{c: &c, http: h, user: fmt.Sprintf("%s%06d", c.prefix, i), jar: map[string]string{}}
	}
	return out
}

// report prints a human line and a RESULT line the scripts read.
func report(name string, n int, wall time.Duration, lat []time.Duration) {
	rate := float64(n) / wall.Seconds()
	log.Printf("%s: %d in %.1fs: %.0f/s, latency p50 %s ms, p99 %s ms", name, n, wall.Seconds(), rate, ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)))
	fmt.Printf("RESULT %s n=%d seconds=%.2f per_second=%.0f p50_ms=%s p99_ms=%s\n", name, n, wall.Seconds(), rate, ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)))
}

func runEnroll(ctx context.Context, c config) error {
	clients := makeClients(c)
	wall, lat, err := parallel(ctx, c, clients, func(ctx context.Context, cl *client) error {
		if err := cl.enroll(ctx); err != nil {
			return err
		}
		return cl.throughGate(ctx)
	})
	if err != nil {
		return err
	}
	report("enroll", len(clients), wall, lat)
	return nil
}

func runVerify(ctx context.Context, c config) error {
	clients := makeClients(c)
	wall, lat, err := parallel(ctx, c, clients, func(ctx context.Context, cl *client) error { return cl.enroll(ctx) })
	if err != nil {
		return err
	}
	report("enroll", len(clients), wall, lat)

	type form struct{ action, csrf string }
	forms := make([]form, len(clients))
	index := map[*client]int{}
	for i, cl := range clients {
		index[cl] = i
	}
	wall, lat, err = parallel(ctx, c, clients, func(ctx context.Context, cl *client) error {
		a, t, err := cl.startChallenge(ctx)
		forms[index[cl]] = form{a, t}
		return err
	})
	if err != nil {
		return err
	}
	report("challenge_pages", len(clients), wall, lat)

	profiled := make(chan error, 1)
	if c.pprofURL != "" {
		go func() { profiled <- profile(ctx, c) }()
	} else {
		profiled <- nil
	}
	before, err := redisCalls(ctx, c.redisPort)
	if err != nil {
		return err
	}
	wall, lat, err = parallel(ctx, c, clients, func(ctx context.Context, cl *client) error {
		f := forms[index[cl]]
		return cl.verify(ctx, f.action, f.csrf)
	})
	if err != nil {
		return err
	}
	report("verify_post", len(clients), wall, lat)
	after, err := redisCalls(ctx, c.redisPort)
	if err != nil {
		return err
	}
	reportCalls("verify_post", len(clients), before, after)
	if err := <-profiled; err != nil {
		return err
	}

	// Each new session must now reach the app.
	_, _, err = parallel(ctx, c, clients, func(ctx context.Context, cl *client) error { return cl.throughGate(ctx) })
	return err
}

var reCmdStat = regexp.MustCompile(`(?m)^cmdstat_([a-z|]+):calls=(\d+)`)

// redisCalls reads how many times Redis has run each command (commands
// run inside scripts included); nil when no Redis port was given.
func redisCalls(ctx context.Context, port int) (map[string]int64, error) {
	if port == 0 {
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, "redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "INFO", "commandstats").Output()
	if err != nil {
		return nil, fmt.Errorf("redis-cli INFO commandstats: %w", err)
	}
	calls := map[string]int64{}
	for _, m := range reCmdStat.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		calls[m[1]] = n
	}
	return calls, nil
}

// reportCalls prints the Redis commands per operation between two
// readings, busiest first, leaving out the INFO calls that read them.
func reportCalls(name string, n int, before, after map[string]int64) {
	if after == nil {
		return
	}
	type count struct {
		cmd string
		n   int64
	}
	var counts []count
	total := int64(0)
	for cmd, v := range after {
		if d := v - before[cmd]; d > 0 && cmd != "info" {
			counts = append(counts, count{cmd, d})
			total += d
		}
	}
	slices.SortFunc(counts, func(a, b count) int { return int(b.n - a.n) })
	parts := []string{fmt.Sprintf("total=%.2f", float64(total)/float64(n))}
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s=%.2f", c.cmd, float64(c.n)/float64(n)))
	}
	log.Printf("%s: Redis commands per operation: %s", name, strings.Join(parts, " "))
	fmt.Printf("REDIS %s %s\n", name, strings.Join(parts, " "))
}

// profile saves a CPU profile of Caddy taken from its admin endpoint.
func profile(ctx context.Context, c config) error {
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(c.pprofURL, "/"), c.pprofSeconds)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: status %d", resp.StatusCode)
	}
	f, err := os.Create(c.pprofOut)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
