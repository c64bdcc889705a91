package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/keyring"
)

// Several Caddy instances sharing one Redis, as operators scale out: a
// verification on one instance counts on all of them, revocations and
// policy changes reach the others within a second, a Redis outage fails
// closed without a restart to recover, and a verified user's requests
// never wait on Redis.

// The instances share one keys setting, as operators must: cookies from
// one open on the others.
const clusterCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		store redis {REDIS} {
			key_prefix {PREFIX}
		}
		keys {KEYS}
		realm default {
			issuer "Acme Corp"
			policy {
				enforce
				methods totp
				remember 30d
			}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
	}
	reverse_proxy {APP}
}
`

// propagationLimit is how soon a change made on one instance must hold on
// every other (the product's promise).
const propagationLimit = time.Second

// cluster is one Redis, the legacy app, and Caddy instances sharing both.
type cluster struct {
	t     *testing.T
	redis *testpeer.RedisPeer
	app   *demoApp
	nodes []*caddyProc
	// stats is the test's own Redis connection, for INFO only.
	stats *redis.Client
	// keys is every instance's keys setting.
	keys string
}

func startCluster(t *testing.T, instances int, opts ...testpeer.RedisOption) *cluster {
	t.Helper()
	cl := &cluster{t: t, redis: testpeer.Redis(t, opts...), app: startDemoApp(t), keys: keyring.Generate()}
	// A prefix of its own per test, as unrelated deployments sharing a
	// database would have.
	prefix := "c2fa-" + strings.ToLower(t.Name()) + ":"
	cf := strings.NewReplacer("{REDIS}", cl.redis.URL(), "{PREFIX}", prefix, "{KEYS}", cl.keys).Replace(withApp(clusterCaddyfile, cl.app))
	for range instances {
		cl.nodes = append(cl.nodes, startCaddy(t, t.TempDir(), cf))
	}
	cl.stats = redis.NewClient(&redis.Options{Addr: cl.redis.Addr(), DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { cl.stats.Close() })
	return cl
}

// calls reads Redis's per-command call counts (INFO commandstats).
func (cl *cluster) calls() map[string]int64 {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cl.stats.Info(ctx, "commandstats").Result()
	if err != nil {
		cl.t.Fatalf("INFO commandstats: %v", err)
	}
	out := map[string]int64{}
	for line := range strings.Lines(info) {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for f := range strings.SplitSeq(fields, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				out[name], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return out
}

// commandDelta is what Redis ran between two readings, without the
// readings' own INFO.
type commandDelta map[string]int64

func (cl *cluster) since(before map[string]int64) commandDelta {
	d := commandDelta{}
	for name, n := range cl.calls() {
		if k := n - before[name]; k > 0 && name != "info" {
			d[name] = k
		}
	}
	return d
}

func (d commandDelta) total() int64 {
	var n int64
	for _, k := range d {
		n += k
	}
	return n
}

// data counts commands other than the change listener's keep-alive and
// (re)subscription: those that read or write state.
func (d commandDelta) data() int64 {
	n := d.total()
	for _, name := range []string{"ping", "subscribe", "hello", "client|setinfo"} {
		n -= d[name]
	}
	return n
}

func (d commandDelta) String() string {
	var parts []string
	for name, n := range d {
		parts = append(parts, fmt.Sprintf("%s=%d", name, n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d [%s]", d.total(), strings.Join(parts, " "))
}

// waitServedFromMemory repeats a verified request until a few in a row
// cost no Redis command: caches filled, and change notifications still in
// flight applied (an enrollment announces a new epoch, which empties the
// cache once more when it arrives).
func (cl *cluster) waitServedFromMemory(c *client, path string) {
	cl.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for quiet := 0; quiet < 3; {
		before := cl.calls()
		if r := c.get(path); r.status != http.StatusOK {
			cl.t.Fatalf("verified request to %s%s: %d %q", c.base, path, r.status, r.location)
		}
		quiet++
		if d := cl.since(before); d.data() != 0 {
			quiet = 0
			if time.Now().After(deadline) {
				cl.t.Fatalf("verified requests to %s still cost Redis commands after 5s: %v", c.base, d)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameBrowser is c talking to another address. The jar keys cookies by
// host, not port, as browsers do, so every instance on 127.0.0.1 (and the
// app itself) gets the same cookies.
func (cl *cluster) sameBrowser(c *client, base string) *client {
	return &client{t: c.t, base: base, http: c.http}
}

// sendsCookie reports whether c's jar sends the cookie to c's address.
func (cl *cluster) sendsCookie(c *client, name string) bool {
	u, err := url.Parse(c.base)
	if err != nil {
		cl.t.Fatal(err)
	}
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name && ck.Value != "" {
			return true
		}
	}
	return false
}

// newAppSession logs in at the app itself, past the gateways: a fresh app
// session whatever a gateway currently thinks of the old one.
func (cl *cluster) newAppSession(c *client, user, password string) {
	cl.sameBrowser(c, cl.app.srv.URL).login(user, password, "/")
}

// operator calls an operator route on an instance's admin endpoint.
func (cl *cluster) operator(p *caddyProc, method, path, body string) (int, string) {
	t := cl.t
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", p.admin, path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// enroll logs a user in to the app through c's instance and sets up an
// authenticator; it returns the key. The user ends verified on /reports.
func (cl *cluster) enroll(c *client, user, password string, step *int64) string {
	cl.t.Helper()
	return enrollAuthenticator(cl.t, c, user, password, step)
}

// enrollAuthenticator logs a user in to the app and sets up an
// authenticator; it returns the key. The user ends verified on /reports.
func enrollAuthenticator(t *testing.T, c *client, user, password string, step *int64) string {
	t.Helper()
	c.login(user, password, "/reports")
	page, at := c.follow("/reports")
	if at != "/.2fa/enroll/totp" || page.status != http.StatusOK {
		t.Fatalf("%s after login: want the TOTP enrollment page, got %d at %s", user, page.status, at)
	}
	key := htmltest.Text(page.body, "totp-key")
	if key == "" {
		t.Fatalf("enrollment page without a key:\n%s", page.body)
	}
	if r := c.savedRecoveryCodes(c.submitCode(page, nextStepCode(t, key, step))); r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("%s enrollment: want 303 to /reports, got %d %q", user, r.status, r.location)
	}
	return key
}

// verify answers the verification the client is sent to on its way to
// path, ticking "Remember this device" when asked.
func (cl *cluster) verify(c *client, path, key string, step *int64, remember bool) {
	t := cl.t
	t.Helper()
	page, at := c.follow(path)
	if at != "/.2fa/verify/totp" || page.status != http.StatusOK {
		t.Fatalf("want the verification page, got %d at %s", page.status, at)
	}
	action, csrf, _ := htmltest.CodeForm(t, page.body)
	form := url.Values{"csrf": {csrf}, "code": {nextStepCode(t, key, step)}}
	if remember {
		form.Set("remember", "1")
	}
	if r := c.do(http.MethodPost, action, form); r.status != http.StatusSeeOther || r.location != path {
		t.Fatalf("verification: want 303 to %s, got %d %q", path, r.status, r.location)
	}
}

// reachedApp: the app answered the page as this user.
func reachedApp(r resp, user string) bool {
	return r.status == http.StatusOK && strings.HasPrefix(htmltest.Text(r.body, "signed-in-as"), "Signed in as "+user)
}

func TestTwoInstancesShareVerification(t *testing.T) {
	cl := startCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]

	ca := newClient(t, a.URL)
	var step int64
	cl.enroll(ca, "alice", "alice-demo", &step)
	if r := ca.get("/reports"); !reachedApp(r, "alice") {
		t.Fatalf("verified on A, A should let alice through: %d %q", r.status, r.location)
	}

	// The browser holds A's cookies and sends them to B too.
	cb := cl.sameBrowser(ca, b.URL)
	for _, name := range []string{"legacy_session", "2fa_session"} {
		if !cl.sendsCookie(cb, name) {
			t.Fatalf("the jar does not send %s to B", name)
		}
	}
	// B never saw alice: it reads her epoch from the store once and opens
	// the session cookie with the key A generated.
	before := cl.calls()
	if r := cb.get("/reports"); !reachedApp(r, "alice") {
		t.Fatalf("verified on A, B must not challenge alice again: %d %q", r.status, r.location)
	}
	t.Logf("B's first request for alice: %v Redis commands", cl.since(before))
	cl.waitServedFromMemory(cb, "/reports")

	// B still enforces for everyone else.
	other := newClient(t, b.URL)
	other.login("bob", "bob-demo", "/reports")
	if r := other.get("/reports"); r.status != http.StatusFound || r.location != "/.2fa/" {
		t.Fatalf("unverified bob on B: want 302 /.2fa/, got %d %q", r.status, r.location)
	}
}

// One authenticator code, submitted at the same moment to both instances
// from several new sign-ins, admits exactly one of them: the time step is
// spent atomically in Redis, not in either instance's memory.
func TestCodeReplayAcrossInstancesAdmitsOne(t *testing.T) {
	cl := startCluster(t, 2)
	var step int64
	key := cl.enroll(newClient(t, cl.nodes[0].URL), "alice", "alice-demo", &step)
	code := nextStepCode(t, key, &step)
	type attempt struct {
		c          *client
		action     string
		csrf, code string
	}
	var attempts []attempt
	for i := range 10 {
		c := newClient(t, cl.nodes[i%2].URL)
		c.login("alice", "alice-demo", "/reports")
		page, at := c.follow("/reports")
		if at != "/.2fa/verify/totp" {
			t.Fatalf("sign-in %d: %s", i, at)
		}
		action, csrf, _ := htmltest.CodeForm(t, page.body)
		attempts = append(attempts, attempt{c, action, csrf, code})
	}
	wins := make(chan int, len(attempts))
	var wg sync.WaitGroup
	for _, a := range attempts {
		wg.Go(func() {
			if r := a.c.do(http.MethodPost, a.action, url.Values{"csrf": {a.csrf}, "code": {a.code}}); r.status == http.StatusSeeOther {
				wins <- 1
			}
		})
	}
	wg.Wait()
	if n := len(wins); n != 1 {
		t.Fatalf("one code admitted %d sign-ins across two instances, want 1", n)
	}
}

func TestRevocationOnOneInstanceReachesTheOtherWithinOneSecond(t *testing.T) {
	cl := startCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]

	ca := newClient(t, a.URL)
	var step int64
	key := cl.enroll(ca, "alice", "alice-demo", &step)
	// A new app session on A asks for a code; alice trusts this device.
	ca.logout()
	ca.login("alice", "alice-demo", "/reports")
	cl.verify(ca, "/reports", key, &step, true)
	if !cl.sendsCookie(ca, "2fa_device") {
		t.Fatal("no device cookie after verifying with remember=1")
	}

	// Yet another app session: B lets the trusted device through, and so
	// now caches the device as trusted.
	ca.logout()
	ca.login("alice", "alice-demo", "/reports")
	cb := cl.sameBrowser(ca, b.URL)
	if r := cb.get("/reports"); !reachedApp(r, "alice") {
		t.Fatalf("trusted device, new app session on B: want the app, got %d %q", r.status, r.location)
	}

	status, body := cl.operator(a, http.MethodPost, "/twofactor/users/alice/revoke-devices", "")
	revoked := time.Now()
	if status != http.StatusOK || !strings.Contains(body, `"revoked":1`) {
		t.Fatalf("revoke on A: %d %s", status, body)
	}

	// Poll B with a new app session each time: it passes only on the
	// device's trust, which B must have dropped.
	var delay time.Duration
	for polls := 1; ; polls++ {
		cl.newAppSession(cb, "alice", "alice-demo")
		r := cb.get("/reports")
		if r.status == http.StatusFound && r.location == "/.2fa/" {
			delay = time.Since(revoked)
			t.Logf("revocation on A reached B after %v (%d polls)", delay, polls)
			break
		}
		if !reachedApp(r, "alice") {
			t.Fatalf("polling B after the revocation: %d %q", r.status, r.location)
		}
		if time.Since(revoked) > 10*time.Second {
			t.Fatal("B still trusts the revoked device after 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if delay > propagationLimit {
		t.Errorf("revocation took %v to reach B, want at most %v", delay, propagationLimit)
	}
	// The challenge asks for a code (alice is enrolled), and no device
	// cookie gets her past it.
	if _, at := cb.follow("/reports"); at != "/.2fa/verify/totp" {
		t.Fatalf("after revocation B should ask for a code, got %s", at)
	}
}

func TestPolicyChangeOnOneInstanceSeenOnOtherWithinOneSecond(t *testing.T) {
	cl := startCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]

	cb := newClient(t, b.URL)
	cb.login("bob", "bob-demo", "/reports")
	if r := cb.get("/reports"); r.status != http.StatusFound || r.location != "/.2fa/" {
		t.Fatalf("2FA enforced: bob on B must be challenged, got %d %q", r.status, r.location)
	}

	status, body := cl.operator(a, http.MethodPut, "/twofactor/policy?realm=default",
		`{"enabled":false,"methods":["totp"],"remember_days":0}`)
	changed := time.Now()
	if status != http.StatusOK {
		t.Fatalf("policy change on A: %d %s", status, body)
	}

	var delay time.Duration
	for polls := 1; ; polls++ {
		r := cb.get("/reports")
		if reachedApp(r, "bob") {
			delay = time.Since(changed)
			t.Logf("policy change on A reached B after %v (%d polls)", delay, polls)
			break
		}
		if r.status != http.StatusFound {
			t.Fatalf("polling B after the policy change: %d %q", r.status, r.location)
		}
		if time.Since(changed) > 10*time.Second {
			t.Fatal("B still enforces 2FA 10s after it was turned off on A")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if delay > propagationLimit {
		t.Errorf("policy change took %v to reach B, want at most %v", delay, propagationLimit)
	}
}

func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	// Persistent, as a production Redis is: its restart keeps the data.
	cl := startCluster(t, 1, testpeer.WithPersistence())
	a := cl.nodes[0]

	alice := newClient(t, a.URL)
	var step int64
	cl.enroll(alice, "alice", "alice-demo", &step)
	cl.waitServedFromMemory(alice, "/reports")
	bob := newClient(t, a.URL)
	bob.login("bob", "bob-demo", "/reports")

	cl.redis.Stop()
	hits := cl.app.hits.Load()
	r := bob.get("/reports")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
		t.Fatalf("unverified user while Redis is down: want 503 temporarily unavailable, got %d %q\n%s", r.status, r.location, r.body)
	}
	if r := bob.get("/.2fa/"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("challenge pages while Redis is down: want 503, got %d %q", r.status, r.location)
	}
	for _, p := range cl.app.requestsSince(hits) {
		if p != "/api/me" {
			t.Fatalf("a request of an unverified user reached the app while Redis was down: %s", p)
		}
	}

	// A verified session whose epoch is in memory needs no Redis.
	for range 3 {
		if r := alice.get("/reports"); !reachedApp(r, "alice") {
			t.Fatalf("verified user while Redis is down: want the app, got %d %q", r.status, r.location)
		}
	}

	// Redis comes back: the same Caddy serves the journey again.
	cl.redis.Start()
	back := time.Now()
	var page resp
	for {
		var at string
		page, at = bob.follow("/reports")
		if at == "/.2fa/enroll/totp" && page.status == http.StatusOK {
			break
		}
		if page.status != http.StatusServiceUnavailable {
			t.Fatalf("while Redis comes back: want 503 or enrollment, got %d at %s", page.status, at)
		}
		if time.Since(back) > 15*time.Second {
			t.Fatal("the gateway did not recover within 15s of Redis restarting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("enrollment served %v after Redis restarted", time.Since(back).Round(time.Millisecond))
	key := htmltest.Text(page.body, "totp-key")
	var bobStep int64
	if r := bob.savedRecoveryCodes(bob.submitCode(page, nextStepCode(t, key, &bobStep))); r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("enrollment after recovery: want 303 to /reports, got %d %q", r.status, r.location)
	}
	if r := bob.get("/reports"); !reachedApp(r, "bob") {
		t.Fatalf("bob verified after recovery: want the app, got %d %q", r.status, r.location)
	}
}

func TestRedisSlowFailsClosed(t *testing.T) {
	cl := startCluster(t, 1)
	bob := newClient(t, cl.nodes[0].URL)
	bob.login("bob", "bob-demo", "/reports")
	if r := bob.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("unverified bob: want 302, got %d", r.status)
	}

	const pause = 2 * time.Second
	cl.redis.Pause(pause)
	paused := time.Now()
	hits := cl.app.hits.Load()
	r := bob.get("/reports")
	took := time.Since(paused)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
		t.Fatalf("unverified user while Redis hangs: want 503 temporarily unavailable, got %d %q", r.status, r.location)
	}
	t.Logf("503 after %v while Redis hangs", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("a hung Redis held the request %v, want at most 1s (timeout 250ms)", took)
	}
	if took >= pause {
		t.Fatalf("the answer came after the pause ended (%v): the test proved nothing", took)
	}
	for _, p := range cl.app.requestsSince(hits) {
		if p != "/api/me" {
			t.Fatalf("a request of an unverified user reached the app while Redis hung: %s", p)
		}
	}

	// Once Redis answers again, so does the gateway.
	for {
		r := bob.get("/reports")
		if r.status == http.StatusFound {
			t.Logf("challenging again %v after the pause ended", time.Since(paused.Add(pause)).Round(time.Millisecond))
			break
		}
		if time.Since(paused) > pause+10*time.Second {
			t.Fatalf("still %d 10s after Redis resumed", r.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisUntouchedByVerifiedRequests(t *testing.T) {
	cl := startCluster(t, 2)
	ca := newClient(t, cl.nodes[0].URL)
	var step int64
	cl.enroll(ca, "alice", "alice-demo", &step)
	cl.waitServedFromMemory(ca, "/reports")

	const n = 200
	before := cl.calls()
	start := time.Now()
	for range n {
		if r := ca.get("/reports"); !reachedApp(r, "alice") {
			t.Fatalf("verified request: %d %q", r.status, r.location)
		}
	}
	busy := time.Since(start)
	during := cl.since(before)

	// The same time without requests: the change listeners' keep-alive
	// PINGs and nothing else.
	before = cl.calls()
	time.Sleep(busy)
	idle := cl.since(before)

	t.Logf("%d verified requests in %v: %v Redis commands; idle for as long: %v", n, busy.Round(time.Millisecond), during, idle)
	if during.data() != 0 {
		t.Errorf("verified requests read or wrote Redis: %v", during)
	}
	if during.total() > idle.total()+2 {
		t.Errorf("verified requests cost Redis commands: %d during, %d idle", during.total(), idle.total())
	}
}
