package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// benchHandler is a handler on a real bbolt store, without Caddy's
// runtime: identity from {http.auth.user.id}, as basic_auth sets it.
func benchHandler(tb testing.TB) *Handler {
	tb.Helper()
	b, err := store.OpenBolt(filepath.Join(tb.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return benchHandlerOn(tb, b)
}

// benchHandlerOn is benchHandler on the given store.
func benchHandlerOn(tb testing.TB, b store.Backend) *Handler {
	tb.Helper()
	return setupBenchHandler(tb, b, &Handler{Policy: &PolicyConfig{Enforce: true}, SessionCookie: "app_session"})
}

// tempBolt is an embedded store in a temporary directory.
func tempBolt(tb testing.TB) store.Backend {
	tb.Helper()
	s, err := store.OpenBolt(filepath.Join(tb.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var okHandler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
})

// serve runs one request through the handler as Caddy would.
func serve(h *Handler, method, target, user string, cookies []*http.Cookie, form url.Values) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, nil, nil)
	repl.Set("http.auth.user.id", user)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, okHandler); err != nil {
		panic(err)
	}
	return w
}

// verifiedCookies enrolls the user through the handler and returns the
// browser's cookies afterwards.
func verifiedCookies(tb testing.TB, h *Handler, user string) []*http.Cookie {
	tb.Helper()
	jar := map[string]*http.Cookie{"app_session": {Name: "app_session", Value: "app-" + user}}
	// In the order a browser sends them, the order they were set: the
	// app's session first, ours after.
	list := func() []*http.Cookie {
		var out []*http.Cookie
		for _, c := range jar {
			out = append(out, c)
		}
		slices.SortFunc(out, func(a, b *http.Cookie) int {
			ours := func(c *http.Cookie) int { return strings.Count(c.Name, "2fa_") }
			return cmp.Or(cmp.Compare(ours(a), ours(b)), cmp.Compare(a.Name, b.Name))
		})
		return out
	}
	keep := func(w *httptest.ResponseRecorder) {
		for _, c := range w.Result().Cookies() {
			if c.MaxAge < 0 {
				delete(jar, c.Name)
			} else {
				jar[c.Name] = c
			}
		}
	}
	w := serve(h, "GET", "/start", user, list(), nil)
	keep(w)
	w = serve(h, "GET", "/.2fa/enroll/totp", user, list(), nil)
	keep(w)
	body := w.Body.String()
	key := htmltest.Text(body, "totp-key")
	action, csrf, _ := htmltest.CodeForm(tb, body)
	w = serve(h, "POST", action, user, list(), url.Values{"csrf": {csrf}, "code": {totpNow(tb, key, time.Now())}})
	keep(w)
	if w.Code != http.StatusSeeOther {
		tb.Fatalf("enrollment failed: %d %s", w.Code, w.Body)
	}
	return list()
}

func TestHandlerPassesVerifiedUserAndChallengesOthers(t *testing.T) {
	h := benchHandler(t)
	cookies := verifiedCookies(t, h, "alice")
	if w := serve(h, "GET", "/reports", "alice", cookies, nil); w.Code != http.StatusNoContent {
		t.Fatalf("verified user: %d", w.Code)
	}
	if w := serve(h, "GET", "/reports", "bob", cookies, nil); w.Code != http.StatusFound {
		t.Fatalf("another user with alice's cookies: %d", w.Code)
	}
	if w := serve(h, "GET", "/reports", "", nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("anonymous: %d", w.Code)
	}
}

// BenchmarkVerifiedRequest is the hot path: a verified user's request
// through the handler (placeholder identity, session cookie checks, policy
// snapshot). Compare with BenchmarkBaselineWithoutTwofactor for our cost.
func BenchmarkVerifiedRequest(b *testing.B) {
	benchVerified(b, benchHandler(b))
}

// BenchmarkVerifiedRequestRedis is the hot path on the Redis store: the
// same work, since a verified request reads no store.
func BenchmarkVerifiedRequestRedis(b *testing.B) {
	peer := testpeer.Redis(b)
	r, err := store.OpenRedis(context.Background(), store.RedisOptions{URL: peer.URL(), KeyPrefix: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	benchVerified(b, benchHandlerOn(b, r))
}

// BenchmarkVerifiedRequestUsers shows the hot path does not grow with the
// number of users in the store.
func BenchmarkVerifiedRequestUsers(b *testing.B) {
	for _, n := range []int{1, 1_000_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			bolt, err := store.OpenBolt(filepath.Join(b.TempDir(), "2fa.db"), store.BoltOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { bolt.Close() })
			seedUsers(b, bolt, n)
			benchVerified(b, benchHandlerOn(b, bolt))
		})
	}
}

// seedUsers writes n enrolled users (minus the one the benchmark enrolls).
func seedUsers(b *testing.B, s store.Backend, n int) {
	const batch = 20_000
	items := make([]store.BatchItem, 0, batch)
	for i := 1; i < n; i++ {
		u := accounts.User{ID: fmt.Sprintf("user%07d", i), Email: fmt.Sprintf("user%07d@acme.example", i), Epoch: 1,
			Methods: []accounts.Enrollment{{Method: policy.MethodTOTP, Secret: make([]byte, 52)}}}
		raw, _ := json.Marshal(u)
		items = append(items, store.BatchItem{Key: store.Key{Bucket: accounts.Keys{Realm: "default"}.UsersBucket(), ID: u.ID}, Value: raw})
		if len(items) == batch || i == n-1 {
			if _, err := store.PutIfAbsentMany(context.Background(), s, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
}

func benchVerified(b *testing.B, h *Handler) {
	cookies := verifiedCookies(b, h, "alice")
	serve(h, "GET", "/reports", "alice", cookies, nil) // warm the epoch cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if w := serve(h, "GET", "/reports", "alice", cookies, nil); w.Code != http.StatusNoContent {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkBaselineWithoutTwofactor is the same request without us.
func BenchmarkBaselineWithoutTwofactor(b *testing.B) {
	h := benchHandler(b)
	cookies := verifiedCookies(b, h, "alice")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/reports", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		repl := caddy.NewReplacer()
		r = caddyhttp.PrepareRequest(r, repl, nil, nil)
		repl.Set("http.auth.user.id", "alice")
		w := httptest.NewRecorder()
		okHandler.ServeHTTP(w, r)
	}
}

// BenchmarkGateOnly isolates our own work on a verified request. One
// request, prepared as Caddy would, goes through the handler again and
// again (the loop puts back the Cookie header the gate strips for the app)
// into a writer that keeps only the status, so building requests and
// recording responses (most of BenchmarkVerifiedRequest's time, and its
// noise) is not measured. "baseline" is the same loop straight to the
// next handler: our cost is the difference. "placeholder" takes the
// identity from {http.auth.user.id}, with 1 and with 1,000,000 users in
// the store; "2fa-off" the same before 2FA is turned on; "lookup" from the
// app's who-am-I endpoint, answered from the lookup cache.
func BenchmarkGateOnly(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		h := benchHandlerOn(b, tempBolt(b))
		loopPrepared(b, "alice", verifiedCookies(b, h, "alice"), okHandler.ServeHTTP)
	})
	for _, users := range []int{1, 1_000_000} {
		b.Run(fmt.Sprintf("placeholder/users=%d", users), func(b *testing.B) {
			s := tempBolt(b)
			seedUsers(b, s, users)
			h := benchHandlerOn(b, s)
			loopPrepared(b, "alice", verifiedCookies(b, h, "alice"), func(w http.ResponseWriter, r *http.Request) error {
				return h.ServeHTTP(w, r, okHandler)
			})
		})
	}
	b.Run("placeholder/assertion", func(b *testing.B) {
		// The signed assertion on: a cached token per session, signed
		// again every half lifetime (the benchmark stays in one).
		h := setupBenchHandler(b, tempBolt(b), &Handler{Policy: &PolicyConfig{Enforce: true}, SessionCookie: "app_session",
			SiteURL: "https://app.acme.example", Assertion: &AssertionConfig{Audience: []string{"legacy-app"}}})
		var got string
		loopPrepared(b, "alice", verifiedCookies(b, h, "alice"), func(w http.ResponseWriter, r *http.Request) error {
			return h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				got = r.Header.Get("X-Twofactor-Assertion")
				return okHandler.ServeHTTP(w, r)
			}))
		})
		if got == "" {
			b.Fatal("no assertion reached the app")
		}
	})
	b.Run("2fa-off", func(b *testing.B) {
		// Before an admin turns 2FA on: the gate notes each app session
		// once (a cookie), then only reads that note.
		h := setupBenchHandler(b, tempBolt(b), &Handler{SessionCookie: "app_session"})
		cookies := []*http.Cookie{{Name: "app_session", Value: "app-alice"}}
		w := serve(h, "GET", "/start", "alice", cookies, nil)
		cookies = append(cookies, w.Result().Cookies()...)
		if len(cookies) != 2 || cookies[1].Name != "2fa_seen" {
			b.Fatalf("the first request with 2FA off set %v, want the app session's note", cookies[1:])
		}
		loopPrepared(b, "alice", cookies, func(w http.ResponseWriter, r *http.Request) error {
			return h.ServeHTTP(w, r, okHandler)
		})
	})
	b.Run("lookup", func(b *testing.B) {
		whoami := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("app_session"); err == nil && c.Value == "app-alice" {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"id":"alice","email":"alice@acme.example"}`)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
		}))
		b.Cleanup(whoami.Close)
		h := setupBenchHandler(b, tempBolt(b), &Handler{
			Policy:      &PolicyConfig{Enforce: true},
			IdentityRaw: lookupJSON(whoami.URL, "app_session"),
		})
		loopPrepared(b, "", verifiedCookies(b, h, "alice"), func(w http.ResponseWriter, r *http.Request) error {
			return h.ServeHTTP(w, r, okHandler)
		})
	})
}

// loopPrepared sends one prepared request through serve in a loop; user,
// when set, is what {http.auth.user.id} holds.
func loopPrepared(b *testing.B, user string, cookies []*http.Cookie, serve func(http.ResponseWriter, *http.Request) error) {
	r := httptest.NewRequest("GET", "/reports", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, nil, nil)
	if user != "" {
		repl.Set("http.auth.user.id", user)
	}
	lines := r.Header["Cookie"]
	cookie := lines[0]
	w := &statusWriter{header: http.Header{}}
	once := func() {
		lines[0] = cookie
		if user == "" {
			repl.Delete("http.auth.user.id") // each request starts without it
		}
		w.status = 0
		if err := serve(w, r); err != nil || w.status != http.StatusNoContent {
			b.Fatalf("status %d, %v", w.status, err)
		}
	}
	once() // warm the caches
	b.ReportAllocs()
	for b.Loop() {
		once()
	}
}

// statusWriter keeps only the status of a response.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header    { return w.header }
func (w *statusWriter) WriteHeader(status int) { w.status = status }
func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
