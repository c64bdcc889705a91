package e2e

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
)

// Attacks on the who-am-I lookup, through a real Caddy: answers that are
// not an identity never let a request through, guests stay guests, and
// the cache never serves one user's answer for another.

// whoami is a who-am-I endpoint whose answer the test sets, and an app
// behind the gateway that counts what reaches it.
type whoami struct {
	mu     sync.Mutex
	status int
	body   string
	delay  time.Duration
	calls  atomic.Int64
	srv    *httptest.Server
	app    *httptest.Server
	hits   atomic.Int64
}

func startWhoami(t *testing.T, handler http.HandlerFunc) *whoami {
	w := &whoami{status: http.StatusUnauthorized}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if handler != nil {
			w.calls.Add(1)
			handler(rw, r)
			return
		}
		w.calls.Add(1)
		w.mu.Lock()
		status, body, delay := w.status, w.body, w.delay
		w.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		rw.WriteHeader(status)
		io.WriteString(rw, body)
	}))
	t.Cleanup(w.srv.Close)
	w.app = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		io.WriteString(rw, "app page")
	}))
	t.Cleanup(w.app.Close)
	return w
}

func (w *whoami) answer(status int, body string, delay time.Duration) {
	w.mu.Lock()
	w.status, w.body, w.delay = status, body, delay
	w.mu.Unlock()
}

const whoamiCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup {WHOAMI} {
			cookie sid
			{OPTIONS}
		}
		policy {
			enforce
			methods totp
		}
	}
	reverse_proxy {APP}
}
`

func startWhoamiRig(t *testing.T, options string) (*whoami, *caddyProc) {
	return startWhoamiRigWith(t, options, nil)
}

// startWhoamiRigWith answers the lookups with handler.
func startWhoamiRigWith(t *testing.T, options string, handler http.HandlerFunc) (*whoami, *caddyProc) {
	w := startWhoami(t, handler)
	cf := strings.NewReplacer("{WHOAMI}", w.srv.URL+"/api/me", "{APP}", strings.TrimPrefix(w.app.URL, "http://"), "{OPTIONS}", options).Replace(whoamiCaddyfile)
	return w, startCaddy(t, t.TempDir(), cf)
}

func TestLookupAnswersThatAreNoAnswerFailClosed(t *testing.T) {
	w, cp := startWhoamiRig(t, "timeout 300ms")
	c := newClient(t, cp.URL)
	for i, tc := range []struct {
		status int
		body   string
		delay  time.Duration
	}{
		{http.StatusBadRequest, "", 0},
		{http.StatusNotFound, "", 0},
		{http.StatusTeapot, "", 0},
		{http.StatusTooManyRequests, `{"id":"alice"}`, 0},
		{http.StatusInternalServerError, "", 0},
		{http.StatusBadGateway, "", 0},
		{http.StatusFound, "", 0},
		{http.StatusOK, `{"id":"alice"}`, time.Minute}, // past the 300ms timeout
		{http.StatusOK, `{"id":"alice","pad":"` + strings.Repeat("x", 1<<20) + `"}`, 0},
		{http.StatusOK, `{"id":"` + strings.Repeat("a", 300) + `"}`, 0},
		{http.StatusOK, `{"id":"al\u0007ice"}`, 0},
		{http.StatusOK, `{"id":12.0}`, 0},
		{http.StatusOK, `{"id":["alice"]}`, 0},
		{http.StatusOK, `{"id":"alice"`, 0},
		{http.StatusOK, `<html>Sign in</html>`, 0},
	} {
		w.answer(tc.status, tc.body, tc.delay)
		before := w.hits.Load()
		r := c.get("/reports", "Cookie", fmt.Sprintf("sid=case-%d", i))
		if r.status != http.StatusServiceUnavailable || !strings.Contains(html.UnescapeString(r.body), "can't check your sign-in") {
			t.Errorf("who-am-I %d %.30q: %d %.80q; want the 503 page", tc.status, tc.body, r.status, r.body)
		}
		api := c.get("/api/x", "Cookie", fmt.Sprintf("sid=case-%d", i), "Accept", "application/json")
		if api.status != http.StatusServiceUnavailable || !strings.Contains(api.body, `"two_factor_unavailable"`) {
			t.Errorf("who-am-I %d %.30q, API call: %d %.80q", tc.status, tc.body, api.status, api.body)
		}
		if n := w.hits.Load() - before; n != 0 {
			t.Errorf("who-am-I %d %.30q: %d requests reached the app", tc.status, tc.body, n)
		}
	}
}

func TestGuestAnswersPassAsAnonymous(t *testing.T) {
	w, cp := startWhoamiRig(t, "guest_when user.anonymous")
	c := newClient(t, cp.URL)
	for i, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusUnauthorized, ""},
		{http.StatusForbidden, ""},
		{http.StatusOK, `{"id":0,"name":"203.0.113.9"}`},
		{http.StatusOK, `{"id":null}`},
		{http.StatusOK, `{"id":""}`},
		{http.StatusOK, `{"id":false}`},
		{http.StatusOK, `{"name":"Guest"}`},
		{http.StatusOK, `{"id":"guest","user":{"anonymous":true}}`},
	} {
		w.answer(tc.status, tc.body, 0)
		if r := c.get("/reports", "Cookie", fmt.Sprintf("sid=guest-%d", i)); r.status != http.StatusOK || r.body != "app page" {
			t.Errorf("who-am-I %d %s: %d %.80q; want the app's page", tc.status, tc.body, r.status, r.body)
		}
	}
}

// A flood of guests with random cookies: the app's who-am-I sees at most
// the bound, the rest are refused, and nobody is taken for a user.
func TestRandomCookieFloodIsBoundedAndEnrollsNobody(t *testing.T) {
	w, cp := startWhoamiRig(t, "rate 5 50")
	w.answer(http.StatusOK, `{"id":0}`, 0)
	c := newClient(t, cp.URL)
	var passed, refused int
	start := time.Now()
	for i := range 1000 {
		switch r := c.get("/reports", "Cookie", fmt.Sprintf("sid=random-%d", i)); r.status {
		case http.StatusOK:
			passed++
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("guest %d: %d", i, r.status)
		}
	}
	// A burst of twice the per-client rate, plus what refilled meanwhile.
	bound := 10 + int64(5*time.Since(start).Seconds()) + 1
	if n := w.calls.Load(); n > bound || int64(passed) != n || refused < 1000-int(bound) {
		t.Fatalf("%d lookups, %d passed, %d refused", n, passed, refused)
	}
	users := adminGet(t, cp, "/twofactor/users")
	if strings.Contains(users, `"id"`) {
		t.Fatalf("guests became users: %s", users)
	}
}

// The who-am-I endpoint may need more than one cookie (a session plus a
// user-id cookie): by default the lookup gets every cookie but ours.
func TestAppNeedingTwoCookiesIdentifiesItsUsers(t *testing.T) {
	var sawBoth atomic.Bool
	_, cp := startWhoamiRigWith(t, "", func(rw http.ResponseWriter, r *http.Request) {
		sid, err1 := r.Cookie("sid")
		uid, err2 := r.Cookie("uid")
		if err1 != nil || err2 != nil || sid.Value != "s1" || uid.Value != "7" || strings.Contains(r.Header.Get("Cookie"), "2fa_") {
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		sawBoth.Store(true)
		io.WriteString(rw, `{"id":7}`)
	})
	c := newClient(t, cp.URL)
	if r := c.get("/reports", "Cookie", "sid=s1; theme=dark; uid=7"); r.status != http.StatusFound || r.location != "/.2fa/" || !sawBoth.Load() {
		t.Fatalf("user of a two-cookie app: %d %q, lookup saw both: %v", r.status, r.location, sawBoth.Load())
	}
}

// The demo app's "keep me signed in" cookie logs a user in without a
// session: the gateway must see that user too.
func TestRememberMeCookieAloneIsChallenged(t *testing.T) {
	app, cp, _ := startAttackRig(t)
	c := newClient(t, cp.URL)
	r := c.do(http.MethodPost, "/login", url.Values{"username": {"bob"}, "password": {"bob-demo"}, "next": {"/"}, "remember": {"1"}})
	var remember string
	for _, ck := range strings.Split(strings.Join(r.header.Values("Set-Cookie"), "\n"), "\n") {
		if v, ok := strings.CutPrefix(ck, legacyapp.RememberCookieName+"="); ok {
			remember, _, _ = strings.Cut(v, ";")
		}
	}
	if remember == "" {
		t.Fatalf("no remember-me cookie from the app: %v", r.header)
	}
	fresh := newClient(t, cp.URL)
	before := app.hits.Load()
	if r := fresh.get("/reports", "Cookie", legacyapp.RememberCookieName+"="+remember); r.status != http.StatusFound {
		t.Fatalf("remember-me cookie alone: %d, want the challenge", r.status)
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("reached the app: %v", leaked)
	}
}

// An app that keeps its session token across logout and login: after a
// verified user logs out and another logs in with the same token, the
// next request is the new user's, and is challenged.
func TestTokenKeptAcrossLogoutAndLoginChallengesTheNextUser(t *testing.T) {
	app := startDemoAppWith(t, legacyapp.Options{KeepSessionAcrossLogin: true}, nil)
	cp := startCaddy(t, t.TempDir(), withApp(lookupCaddyfile, app))
	c := newClient(t, cp.URL)
	var step int64
	enrollAuthenticator(t, c, "bob", "bob-demo", &step)
	if r := c.get("/reports"); !reachedApp(r, "bob") {
		t.Fatalf("bob verified: %d", r.status)
	}
	c.get("/logout")
	c.login("carol", "carol-demo", "/reports")
	before := app.hits.Load()
	if r := c.get("/reports"); r.status != http.StatusFound || reachedApp(r, "carol") {
		t.Fatalf("carol on bob's token and 2FA session: %d, want the challenge", r.status)
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("carol's request reached the app: %v", leaked)
	}
}

func TestCredentialsTheLookupDoesNotSeeAreRefused(t *testing.T) {
	app, cp, _ := startAttackRig(t)
	c := newClient(t, cp.URL)
	before := app.hits.Load()
	for _, tc := range []struct{ path, header, value string }{
		{"/reports", "Authorization", "Basic Ym9iOmJvYi1kZW1v"},
		{"/reports;jsessionid=ABC123", "", ""},
		{"/reports;JSESSIONID=ABC123/x", "", ""},
		{"/reports?PHPSESSID=abc", "", ""},
		{"/reports?a=1&legacy_session=abc", "", ""},
		{"/reports?x=1;legacy%5Fsession=abc", "", ""},
	} {
		var r resp
		if tc.header != "" {
			r = c.get(tc.path, tc.header, tc.value)
		} else {
			r = c.get(tc.path)
		}
		if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), "can't be used here") {
			t.Errorf("%s %s: %d %.80q", tc.path, tc.header, r.status, r.body)
		}
	}
	if leaked := app.leaked(before); len(leaked) > 0 {
		t.Fatalf("reached the app: %v", leaked)
	}
}

// adminGet reads one of the operator routes on Caddy's admin endpoint.
func adminGet(t *testing.T, cp *caddyProc, path string) string {
	t.Helper()
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", cp.admin, path))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		t.Fatalf("GET %s: not JSON: %s", path, b)
	}
	return string(b)
}
