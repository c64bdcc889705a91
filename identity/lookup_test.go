package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const aliceJSON = `{"id":"alice","email":"alice@acme.example","phone":"+14155550101","name":"Alice","groups":["general_settings:manager"]}`

// fakeApp is a "who am I" endpoint that knows one session per user.
type fakeApp struct {
	*httptest.Server
	calls    atomic.Int64
	mu       sync.Mutex
	sessions map[string]string // session cookie value → JSON answer
}

func newFakeApp(t *testing.T) *fakeApp {
	t.Helper()
	app := &fakeApp{sessions: map[string]string{"s-alice": aliceJSON}}
	app.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.calls.Add(1)
		var answer string
		if c, err := r.Cookie("sid"); err == nil {
			app.mu.Lock()
			answer = app.sessions[c.Value]
			app.mu.Unlock()
		}
		if answer == "" {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(app.Close)
	return app
}

// setSession makes session log in as answer, or log out when answer is "".
func (app *fakeApp) setSession(session, answer string) {
	app.mu.Lock()
	defer app.mu.Unlock()
	if answer == "" {
		delete(app.sessions, session)
		return
	}
	app.sessions[session] = answer
}

// newTestLookup makes a Lookup for url with a clock the test moves.
func newTestLookup(t *testing.T, cfg LookupConfig) (*Lookup, *fakeClock) {
	t.Helper()
	if cfg.Cookie == "" {
		cfg.Cookie = "sid"
	}
	l, err := NewLookup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l.now = clock.Now
	return l, clock
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func requestWithCookie(cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

func mustResolve(t *testing.T, l *Lookup, cookie string) Identity {
	t.Helper()
	id, err := l.Resolve(context.Background(), requestWithCookie(cookie))
	if err != nil {
		t.Fatalf("Resolve(%q): %v", cookie, err)
	}
	return id
}

func TestLookupDoesNotForwardOtherCookiesOrHeaders(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if got := r.Header.Values("Cookie"); !slices.Equal(got, []string{"sid=s-alice"}) {
			t.Errorf("forwarded cookies %q", got)
		}
		for name := range r.Header {
			switch name {
			case "Cookie", "Accept", "User-Agent", "Accept-Encoding":
			default:
				t.Errorf("forwarded header %s: %q", name, r.Header[name])
			}
		}
		if r.Method != http.MethodGet || r.URL.RequestURI() != "/api/me" || r.Header.Get("Accept") != "application/json" {
			t.Errorf("request %s %s, Accept %q", r.Method, r.URL, r.Header.Get("Accept"))
		}
		io.WriteString(w, aliceJSON)
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL + "/api/me"})

	r := httptest.NewRequest(http.MethodPost, "/admin?x=1", strings.NewReader("body"))
	r.Header.Set("Cookie", "tracking=t1; sid=s-alice; csrf=c1")
	r.Header.Add("Cookie", "other=o")
	r.Header.Set("Authorization", "Bearer secret")
	r.Header.Set("X-Remote-User", "root")
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	id, err := l.Resolve(context.Background(), r)
	if err != nil || id.ID != "alice" {
		t.Fatalf("got %+v, %v", id, err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", calls.Load())
	}
}

func TestLookupWithoutSessionCookieMakesNoCall(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL})
	for _, cookie := range []string{"", "other=s-alice", "sid=", `sid=a"b`} {
		if id := mustResolve(t, l, cookie); id.Known() {
			t.Errorf("cookie %q gave %+v", cookie, id)
		}
	}
	if n := app.calls.Load(); n != 0 {
		t.Fatalf("%d calls, want none", n)
	}
}

func TestLookupCachesIdentityUntilTTL(t *testing.T) {
	app := newFakeApp(t)
	l, clock := newTestLookup(t, LookupConfig{URL: app.URL, CacheTTL: time.Minute})
	want := Identity{ID: "alice", Email: "alice@acme.example", Phone: "+14155550101", Name: "Alice",
		Groups: []string{"general_settings:manager"}, AppSession: "s-alice"}
	for range 3 {
		if got := mustResolve(t, l, "sid=s-alice"); !equalIdentity(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		clock.Advance(20 * time.Second)
	}
	if n := app.calls.Load(); n != 1 {
		t.Fatalf("%d calls within the TTL, want 1", n)
	}
	clock.Advance(time.Second)
	mustResolve(t, l, "sid=s-alice")
	if n := app.calls.Load(); n != 2 {
		t.Fatalf("%d calls after the TTL, want 2", n)
	}
}

func TestLookupCachesNotLoggedInOnlyForNegativeTTL(t *testing.T) {
	app := newFakeApp(t)
	l, clock := newTestLookup(t, LookupConfig{URL: app.URL, NegativeTTL: 5 * time.Second})
	if id := mustResolve(t, l, "sid=s-bob"); id.Known() {
		t.Fatalf("unknown session gave %+v", id)
	}
	// Bob logs in without the application rotating his session token.
	app.setSession("s-bob", `{"id":"bob"}`)
	clock.Advance(4 * time.Second)
	if id := mustResolve(t, l, "sid=s-bob"); id.Known() || app.calls.Load() != 1 {
		t.Fatalf("negative answer not cached: %+v, %d calls", id, app.calls.Load())
	}
	clock.Advance(time.Second)
	if id := mustResolve(t, l, "sid=s-bob"); id.ID != "bob" {
		t.Fatalf("negative answer outlived its TTL: %+v", id)
	}
}

func TestLookupForgetDropsCachedAnswer(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL})
	mustResolve(t, l, "sid=s-alice")
	app.setSession("s-alice", "") // the application logs alice out
	l.Forget("s-alice")
	if id := mustResolve(t, l, "sid=s-alice"); id.Known() {
		t.Fatalf("forgotten session still resolves to %+v", id)
	}
}

func TestLookupTreatsRefusalsAndMalformedAnswersAsNotLoggedIn(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusUnauthorized, aliceJSON},
		{http.StatusForbidden, aliceJSON},
		{http.StatusNotFound, aliceJSON},
		{http.StatusBadRequest, aliceJSON},
		{http.StatusTeapot, aliceJSON},
		{http.StatusFound, aliceJSON},
		{http.StatusOK, "<html>please log in</html>"},
		{http.StatusOK, `{"id":"alice"`},
		{http.StatusOK, `{"id":""}`},
		{http.StatusOK, `{"id":"  "}`},
		{http.StatusOK, `{"email":"alice@acme.example"}`},
		{http.StatusOK, `["alice"]`},
		{http.StatusOK, `null`},
		{http.StatusOK, ``},
	} {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if tc.status == http.StatusFound {
				w.Header().Set("Location", "/login")
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})
		for range 2 {
			if id, err := l.Resolve(context.Background(), requestWithCookie("sid=s-alice")); err != nil || id.Known() {
				t.Errorf("%d %q: got %+v, %v; want no identity", tc.status, tc.body, id, err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d %q: %d calls, want 1 (negative answer cached)", tc.status, tc.body, n)
		}
		srv.Close()
	}
}

func TestLookupFailsClosedOnServerErrorsWithoutCaching(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusNoContent} {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(status)
			io.WriteString(w, aliceJSON)
		}))
		l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})
		for range 2 {
			if id, err := l.Resolve(context.Background(), requestWithCookie("sid=s-alice")); !errors.Is(err, ErrUnavailable) || id.Known() {
				t.Errorf("%d: got %+v, %v; want ErrUnavailable", status, id, err)
			}
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("%d: %d calls, want 2 (errors are not cached)", status, n)
		}
		srv.Close()
	}
}

func TestLookupFailsClosedOnTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL, Timeout: 50 * time.Millisecond})
	if _, err := l.Resolve(context.Background(), requestWithCookie("sid=s-alice")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestLookupFailsClosedWhenAppIsDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: url})
	if _, err := l.Resolve(context.Background(), requestWithCookie("sid=s-alice")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestLookupIgnoresOversizedAnswer(t *testing.T) {
	answer := func(size int) string {
		prefix := `{"id":"alice","padding":"`
		return prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("sid")
		size := MaxResponseSize
		if c.Value == "big" {
			size++
		}
		io.WriteString(w, answer(size))
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})
	if id := mustResolve(t, l, "sid=fits"); id.ID != "alice" {
		t.Fatalf("answer of exactly %d bytes rejected", MaxResponseSize)
	}
	if id := mustResolve(t, l, "sid=big"); id.Known() {
		t.Fatalf("answer over %d bytes accepted: %+v", MaxResponseSize, id)
	}
}

func TestLookupMakesOneCallForConcurrentMisses(t *testing.T) {
	var calls atomic.Int64
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		arrived <- struct{}{}
		<-release
		io.WriteString(w, aliceJSON)
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})

	const n = 50
	var wg sync.WaitGroup
	ids := make([]Identity, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ids[i], errs[i] = l.Resolve(context.Background(), requestWithCookie("sid=s-alice"))
		})
	}
	<-arrived
	// Give the others time to miss too; with one call per miss they would
	// reach the server now. Timing can only make this test pass wrongly,
	// never fail wrongly.
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i].ID != "alice" || ids[i].AppSession != "s-alice" {
			t.Fatalf("resolve %d: %+v, %v", i, ids[i], errs[i])
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("%d calls for %d concurrent misses, want 1", got, n)
	}
}

func TestLookupCallSurvivesCancelledFirstRequest(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
		io.WriteString(w, aliceJSON)
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Resolve(ctx, requestWithCookie("sid=s-alice")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request got %v", err)
	}
	close(release)
	if id := mustResolve(t, l, "sid=s-alice"); id.ID != "alice" {
		t.Fatalf("got %+v", id)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls, want the first call reused", n)
	}
}

func TestLookupAppliesFieldRenames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"wrong","user":{"uid":42},"mail":"alice@acme.example","roles":"ops, dev"}`)
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL, Fields: map[string]string{
		"id": "user.uid", "email": "mail", "groups": "roles",
	}})
	got := mustResolve(t, l, "sid=s-alice")
	want := Identity{ID: "42", Email: "alice@acme.example", Groups: []string{"ops", "dev"}, AppSession: "s-alice"}
	if !equalIdentity(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestLookupCacheStaysWithinSizeDroppingLeastRecentlyUsed(t *testing.T) {
	app := newFakeApp(t)
	for i := range 10 {
		app.setSession(fmt.Sprint("s", i), fmt.Sprintf(`{"id":"user%d"}`, i))
	}
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL, CacheSize: 3})
	for _, s := range []string{"s0", "s1", "s2", "s0", "s3"} { // s1 is now the oldest
		mustResolve(t, l, "sid="+s)
	}
	calls := app.calls.Load()
	mustResolve(t, l, "sid=s0")
	if app.calls.Load() != calls {
		t.Fatal("recently used entry was dropped")
	}
	mustResolve(t, l, "sid=s1")
	if app.calls.Load() != calls+1 {
		t.Fatal("least recently used entry was kept")
	}
	for i := range 10 {
		mustResolve(t, l, fmt.Sprint("sid=s", i))
		if n := len(l.entries); n > 3 {
			t.Fatalf("%d entries, bound is 3", n)
		}
	}
}

func TestLookupCacheHoldsNoSessionToken(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL})
	mustResolve(t, l, "sid=s-alice")
	e, ok := l.entries[sha256.Sum256([]byte("s-alice"))]
	if !ok || len(l.entries) != 1 {
		t.Fatal("entry not keyed by the token's SHA-256")
	}
	if e.id.AppSession != "" {
		t.Fatal("cache entry holds the session token")
	}
}

func TestLookupReturnsGroupsTheCallerCanModify(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL})
	mustResolve(t, l, "sid=s-alice").Groups[0] = "admin"
	if id := mustResolve(t, l, "sid=s-alice"); !slices.Equal(id.Groups, []string{"general_settings:manager"}) {
		t.Fatalf("cached groups changed by a caller: %q", id.Groups)
	}
}

func TestLookupForwardsEveryCopyOfDuplicatedSessionCookie(t *testing.T) {
	var forwarded atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Store(r.Header.Get("Cookie"))
		io.WriteString(w, aliceJSON)
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})
	id := mustResolve(t, l, "sid=planted; x=1; sid=real")
	if got := forwarded.Load(); got != "sid=planted; sid=real" {
		t.Fatalf("forwarded %q", got)
	}
	if id.AppSession != "planted; real" {
		t.Fatalf("AppSession %q", id.AppSession)
	}
}

func TestLookupDoesNotFollowRedirects(t *testing.T) {
	var elsewhereCalls atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereCalls.Add(1)
		io.WriteString(w, aliceJSON)
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	for _, client := range []*http.Client{nil, {}} {
		l, _ := newTestLookup(t, LookupConfig{URL: srv.URL, Client: client})
		if id := mustResolve(t, l, "sid=s-alice"); id.Known() {
			t.Fatalf("redirect gave %+v", id)
		}
	}
	if n := elsewhereCalls.Load(); n != 0 {
		t.Fatalf("redirect followed %d times", n)
	}
}

func TestNewLookupRejectsUnsafeOrInvalidConfig(t *testing.T) {
	for _, cfg := range []LookupConfig{
		{URL: "", Cookie: "sid"},
		{URL: "/api/me", Cookie: "sid"},
		{URL: "ftp://127.0.0.1/me", Cookie: "sid"},
		{URL: "http://user:pass@127.0.0.1/me", Cookie: "sid"},
		{URL: "http://127.0.0.1/me", Cookie: ""},
		{URL: "http://127.0.0.1/me", Cookie: "s id"},
		{URL: "http://127.0.0.1/me", Cookie: "sid", CacheSize: -1},
		{URL: "http://127.0.0.1/me", Cookie: "sid", Timeout: -time.Second},
		{URL: "http://127.0.0.1/me", Cookie: "sid", Fields: map[string]string{"role": "roles"}},
		{URL: "http://127.0.0.1/me", Cookie: "sid", Fields: map[string]string{"id": "user..id"}},
	} {
		if _, err := NewLookup(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	f := defaultResponseFields
	for _, tc := range []struct {
		body string
		want Identity
		ok   bool
	}{
		{aliceJSON, Identity{ID: "alice", Email: "alice@acme.example", Phone: "+14155550101", Name: "Alice", Groups: []string{"general_settings:manager"}}, true},
		{"{ \"id\" :\n \"Alice\" , \"groups\" : \"a, b c\" }", Identity{ID: "Alice", Groups: []string{"a", "b", "c"}}, true},
		{`{"id": 7, "groups": [ "a", 1, null, "a", "b" ]}`, Identity{ID: "7", Groups: []string{"a", "b"}}, true},
		{`{"id":"alice","email":5,"name":["x"],"phone":null,"groups":{}}`, Identity{ID: "alice"}, true},
		{`{"id":"alice","name":"Al\u0000ice"}`, Identity{ID: "alice"}, true},
		{`{"id":1.5}`, Identity{}, false},
		{`{"id":true}`, Identity{}, false},
		{`{"id":"al\nice"}`, Identity{}, false},
		{`{"id":null}`, Identity{}, false},
		{`"alice"`, Identity{}, false},
	} {
		got, ok := decodeResponse([]byte(tc.body), &f)
		if ok != tc.ok || !equalIdentity(got, tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzLookupResponse(f *testing.F) {
	for _, seed := range []string{
		aliceJSON,
		`{"id":42,"groups":"a,b c"}`,
		`{"user":{"id":"bob"},"id":"x"}`,
		`{"id":"a","groups":[1,"x",null]}`,
		`<html></html>`,
		`{"id":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	nested, err := newResponseFields(map[string]string{"id": "user.id"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fields := range []responseFields{defaultResponseFields, nested} {
			id, ok := decodeResponse(body, &fields)
			if ok != id.Known() {
				t.Fatalf("ok=%v for %+v", ok, id)
			}
			if !ok {
				continue
			}
			for _, v := range []struct {
				s   string
				max int
			}{{id.ID, MaxIDLen}, {id.Email, MaxEmailLen}, {id.Phone, MaxPhoneLen}, {id.Name, MaxNameLen}} {
				if cleanValue(v.s, v.max) != v.s {
					t.Fatalf("unsanitised value %q", v.s)
				}
			}
			if len(id.Groups) > MaxGroups {
				t.Fatalf("%d groups", len(id.Groups))
			}
			for _, g := range id.Groups {
				if g == "" || cleanValue(g, MaxGroupLen) != g {
					t.Fatalf("unsanitised group %q", g)
				}
			}
		}
	})
}

func BenchmarkLookupWarm(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, aliceJSON)
	}))
	defer srv.Close()
	l, err := NewLookup(LookupConfig{URL: srv.URL, Cookie: "sid"})
	if err != nil {
		b.Fatal(err)
	}
	r := requestWithCookie("_ga=GA1.2.3; sid=0123456789abcdef0123456789abcdef; theme=dark")
	ctx := context.Background()
	if _, err := l.Resolve(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if id, _ := l.Resolve(ctx, r); id.ID != "alice" {
			b.Fatal("cache miss")
		}
	}
}
