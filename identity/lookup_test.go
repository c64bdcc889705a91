package identity

import (
	"context"
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

func cookieCreds(cookie string) Credentials { return Credentials{Cookie: cookie, Client: "192.0.2.1"} }

func mustResolve(t *testing.T, l *Lookup, cookie string) Identity {
	t.Helper()
	id, err := l.Resolve(context.Background(), cookieCreds(cookie))
	if err != nil {
		t.Fatalf("Resolve(%q): %v", cookie, err)
	}
	return id
}

// answering is an endpoint that always answers status and body.
func answering(t *testing.T, status int, body string, calls *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if status/100 == 3 {
			w.Header().Set("Location", "/login?next=/api/me")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLookupForwardsExactlyItsCredentials(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if got := r.Header.Values("Cookie"); !slices.Equal(got, []string{"sid=s-alice; remember=r1"}) {
			t.Errorf("forwarded cookies %q", got)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer t1" {
			t.Errorf("Authorization %q", got)
		}
		if got := r.Header.Get("Ocs-Apirequest"); got != "true" {
			t.Errorf("set header %q", got)
		}
		for name := range r.Header {
			switch name {
			case "Cookie", "Accept", "User-Agent", "Accept-Encoding", "Authorization", "Ocs-Apirequest":
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
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL + "/api/me", Headers: []string{"authorization"},
		SetHeaders: map[string]string{"OCS-APIRequest": "true"}})
	if got := l.Headers(); !slices.Equal(got, []string{"Authorization"}) {
		t.Fatalf("Headers() = %q", got)
	}
	id, err := l.Resolve(context.Background(), Credentials{Cookie: "sid=s-alice; remember=r1", Headers: []string{"Bearer t1"}})
	if err != nil || id.ID != "alice" {
		t.Fatalf("got %+v, %v", id, err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", calls.Load())
	}
}

func TestLookupWithoutCredentialsMakesNoCall(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL, Headers: []string{"Authorization"}})
	for _, c := range []Credentials{{}, {Headers: []string{""}}, {Client: "192.0.2.1"}} {
		if id, err := l.Resolve(context.Background(), c); err != nil || id.Known() {
			t.Errorf("%+v gave %+v, %v", c, id, err)
		}
	}
	if n := app.calls.Load(); n != 0 {
		t.Fatalf("%d calls, want none", n)
	}
}

func TestLookupCachesIdentityUntilTTL(t *testing.T) {
	app := newFakeApp(t)
	l, clock := newTestLookup(t, LookupConfig{URL: app.URL})
	want := Identity{ID: "alice", Email: "alice@acme.example", Phone: "+14155550101", Name: "Alice",
		Groups: []string{"general_settings:manager"}}
	for range 3 {
		if got := mustResolve(t, l, "sid=s-alice"); !equalIdentity(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		clock.Advance(DefaultCacheTTL / 3)
	}
	if n := app.calls.Load(); n != 1 {
		t.Fatalf("%d calls within the TTL, want 1", n)
	}
	mustResolve(t, l, "sid=s-alice")
	if n := app.calls.Load(); n != 2 {
		t.Fatalf("%d calls after the TTL, want 2", n)
	}
}

func TestLookupCachesNotLoggedInOnlyForNegativeTTL(t *testing.T) {
	app := newFakeApp(t)
	l, clock := newTestLookup(t, LookupConfig{URL: app.URL})
	if id := mustResolve(t, l, "sid=s-bob"); id.Known() {
		t.Fatalf("unknown session gave %+v", id)
	}
	app.setSession("s-bob", `{"id":"bob"}`)
	clock.Advance(DefaultNegativeTTL - time.Second)
	if id := mustResolve(t, l, "sid=s-bob"); id.Known() || app.calls.Load() != 1 {
		t.Fatalf("negative answer not cached: %+v, %d calls", id, app.calls.Load())
	}
	clock.Advance(time.Second)
	if id := mustResolve(t, l, "sid=s-bob"); id.ID != "bob" {
		t.Fatalf("negative answer outlived its TTL: %+v", id)
	}
}

// An app that keeps the session token across logout and login: the
// caller forgets the answer, and the next request sees the new user.
func TestLookupForgetDropsCachedAnswer(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL})
	mustResolve(t, l, "sid=s-alice")
	app.setSession("s-alice", `{"id":"mallory"}`)
	l.Forget(cookieCreds("sid=s-alice"))
	if id := mustResolve(t, l, "sid=s-alice"); id.ID != "mallory" {
		t.Fatalf("forgotten session still resolves to %+v", id)
	}
}

func TestLookupGuestAnswersPassAsAnonymous(t *testing.T) {
	zero := "0"
	for _, tc := range []struct {
		status int
		body   string
		cfg    LookupConfig
	}{
		{http.StatusUnauthorized, aliceJSON, LookupConfig{}},
		{http.StatusForbidden, aliceJSON, LookupConfig{}},
		{http.StatusOK, `{"id":""}`, LookupConfig{}},
		{http.StatusOK, `{"id":null,"name":"Guest"}`, LookupConfig{}},
		{http.StatusOK, `{"id":0}`, LookupConfig{}},
		{http.StatusOK, `{"id":"0"}`, LookupConfig{}},
		{http.StatusOK, `{"id":false}`, LookupConfig{}},
		{http.StatusOK, `{"email":"alice@acme.example"}`, LookupConfig{}},
		{http.StatusOK, `{"id":"anon-7","guest":true}`, LookupConfig{GuestWhen: []GuestRule{{Field: "guest"}}}},
		{http.StatusOK, `{"query":{"userinfo":{"id":0,"name":"127.0.0.1","anon":""}}}`,
			LookupConfig{Fields: map[string]string{"id": "query.userinfo.name"}, GuestWhen: []GuestRule{{Field: "query.userinfo.anon"}}}},
		{http.StatusOK, `{"user":{"id":0,"name":"anonymous"}}`, LookupConfig{Fields: map[string]string{"id": "user.name"}, GuestWhen: []GuestRule{{Field: "user.id", Value: &zero}}}},
		{http.StatusFound, "", LookupConfig{LoginURL: []string{"/login"}}},
		{http.StatusTeapot, "", LookupConfig{GuestStatus: []int{http.StatusTeapot}}},
	} {
		var calls atomic.Int64
		tc.cfg.URL = answering(t, tc.status, tc.body, &calls).URL
		l, _ := newTestLookup(t, tc.cfg)
		for range 2 {
			if id, err := l.Resolve(context.Background(), cookieCreds("sid=s-alice")); err != nil || id.Known() {
				t.Errorf("%d %s: got %+v, %v; want a guest", tc.status, tc.body, id, err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d %s: %d calls, want 1 (guest answer cached)", tc.status, tc.body, n)
		}
	}
}

func TestLookupFailsClosedOnEveryOtherAnswerWithoutCaching(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusBadRequest, aliceJSON},
		{http.StatusNotFound, aliceJSON},
		{http.StatusTeapot, aliceJSON},
		{http.StatusTooManyRequests, aliceJSON},
		{http.StatusInternalServerError, aliceJSON},
		{http.StatusBadGateway, aliceJSON},
		{http.StatusServiceUnavailable, aliceJSON},
		{http.StatusNoContent, aliceJSON},
		{http.StatusFound, aliceJSON}, // no login_url configured
		{http.StatusOK, "<html>please log in</html>"},
		{http.StatusOK, `{"id":"alice"`},
		{http.StatusOK, `["alice"]`},
		{http.StatusOK, `null`},
		{http.StatusOK, ``},
		{http.StatusOK, `{"id":"  "}`},
		{http.StatusOK, `{"id":12.0}`},
		{http.StatusOK, `{"id":1e3}`},
		{http.StatusOK, `{"id":true}`},
		{http.StatusOK, `{"id":{"v":1}}`},
		{http.StatusOK, `{"id":"al\nice"}`},
		{http.StatusOK, `{"id":"al\u0000ice"}`},
		{http.StatusOK, "{\"id\":\"al\xffice\"}"},
		{http.StatusOK, `{"id":"` + strings.Repeat("a", MaxIDLen+1) + `"}`},
	} {
		var calls atomic.Int64
		srv := answering(t, tc.status, tc.body, &calls)
		l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})
		for range 2 {
			if id, err := l.Resolve(context.Background(), cookieCreds("sid=s-alice")); !errors.Is(err, ErrUnavailable) || id.Known() {
				t.Errorf("%d %.40q: got %+v, %v; want ErrUnavailable", tc.status, tc.body, id, err)
			}
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("%d %.40q: %d calls, want 2 (errors are not cached)", tc.status, tc.body, n)
		}
	}
}

func TestLookupFailsClosedOnOversizedAnswer(t *testing.T) {
	answer := func(size int) string {
		prefix := `{"id":"alice","padding":"`
		return prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("sid")
		size := MaxResponseSize
		if c.Value == "big" {
			size = 1 << 20
		}
		io.WriteString(w, answer(size))
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL})
	if id := mustResolve(t, l, "sid=fits"); id.ID != "alice" {
		t.Fatalf("answer of exactly %d bytes rejected", MaxResponseSize)
	}
	if id, err := l.Resolve(context.Background(), cookieCreds("sid=big")); !errors.Is(err, ErrUnavailable) || id.Known() {
		t.Fatalf("1 MiB answer: %+v, %v", id, err)
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
	if _, err := l.Resolve(context.Background(), cookieCreds("sid=s-alice")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestLookupFailsClosedWhenAppIsDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: url})
	if _, err := l.Resolve(context.Background(), cookieCreds("sid=s-alice")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

// A flood of random session cookies: the app sees at most the bound, and
// the rest are refused (never let through as anonymous).
func TestRandomCookieFloodCausesBoundedLookups(t *testing.T) {
	app := newFakeApp(t)
	l, clock := newTestLookup(t, LookupConfig{URL: app.URL, ClientRate: 5, TotalRate: 50})
	var refused int
	for i := range 1000 {
		_, err := l.Resolve(context.Background(), Credentials{Cookie: fmt.Sprintf("sid=random-%d", i), Client: "2001:db8:1:2::" + fmt.Sprint(i%200)})
		if errors.Is(err, ErrOverBound) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n := app.calls.Load(); n != 10 || refused != 990 {
		t.Fatalf("one /64: %d lookups, %d refused; want the burst of 10, 990 refused", n, refused)
	}
	for i := range 1000 {
		l.Resolve(context.Background(), Credentials{Cookie: fmt.Sprintf("sid=spread-%d", i), Client: fmt.Sprintf("198.51.%d.%d", i/250, i%250)})
	}
	if n := app.calls.Load(); n != 100 {
		t.Fatalf("%d lookups from 1,000 addresses, want the total burst of 100", n)
	}
	clock.Advance(time.Second)
	mustResolve(t, l, "sid=s-alice")
	if n := app.calls.Load(); n != 101 {
		t.Fatalf("no lookup after the bucket refilled: %d", n)
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
			ids[i], errs[i] = l.Resolve(context.Background(), cookieCreds("sid=s-alice"))
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
		if errs[i] != nil || ids[i].ID != "alice" {
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
	if _, err := l.Resolve(ctx, cookieCreds("sid=s-alice")); !errors.Is(err, context.Canceled) {
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
	want := Identity{ID: "42", Email: "alice@acme.example", Groups: []string{"ops", "dev"}}
	if !equalIdentity(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// The cache key covers every forwarded value: another remember-me cookie
// or another Authorization header is another session.
func TestLookupCacheKeyCoversEveryForwardedValue(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprintf(w, `{"id":%q}`, r.Header.Get("Cookie")+"|"+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	l, _ := newTestLookup(t, LookupConfig{URL: srv.URL, Headers: []string{"Authorization"}})
	seen := map[string]bool{}
	for _, c := range []Credentials{
		{Cookie: "sid=1"}, {Cookie: "sid=1; remember=a"}, {Cookie: "sid=1; remember=b"},
		{Cookie: "sid=1", Headers: []string{"Basic x"}}, {Cookie: "sid=1", Headers: []string{"Basic y"}},
		{Headers: []string{"sid=1"}},
	} {
		id, err := l.Resolve(context.Background(), c)
		if err != nil || seen[id.ID] {
			t.Fatalf("%+v: %+v, %v (answer of other credentials served)", c, id, err)
		}
		seen[id.ID] = true
	}
	if calls.Load() != 6 {
		t.Fatalf("%d calls for 6 different credentials", calls.Load())
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
		if n := len(l.cache.entries); n > 3 {
			t.Fatalf("%d entries, bound is 3", n)
		}
	}
}

func TestLookupCacheHoldsNoSessionToken(t *testing.T) {
	app := newFakeApp(t)
	l, _ := newTestLookup(t, LookupConfig{URL: app.URL})
	mustResolve(t, l, "sid=s-alice")
	e, ok := l.cache.entries[keyOf(cookieCreds("sid=s-alice"))]
	if !ok || len(l.cache.entries) != 1 {
		t.Fatal("entry not keyed by the credentials' SHA-256")
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

func TestLookupDoesNotFollowRedirects(t *testing.T) {
	var elsewhereCalls atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereCalls.Add(1)
		io.WriteString(w, aliceJSON)
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/login", http.StatusTemporaryRedirect))
	defer srv.Close()
	for _, client := range []*http.Client{nil, {}} {
		// A login_url on this host does not match a redirect elsewhere.
		l, _ := newTestLookup(t, LookupConfig{URL: srv.URL, Client: client, LoginURL: []string{"/login"}})
		if id, err := l.Resolve(context.Background(), cookieCreds("sid=s-alice")); !errors.Is(err, ErrUnavailable) || id.Known() {
			t.Fatalf("redirect elsewhere gave %+v, %v", id, err)
		}
	}
	if n := elsewhereCalls.Load(); n != 0 {
		t.Fatalf("redirect followed %d times", n)
	}
}

func TestNewLookupRejectsUnsafeOrInvalidConfig(t *testing.T) {
	for _, cfg := range []LookupConfig{
		{URL: ""},
		{URL: "/api/me"},
		{URL: "ftp://127.0.0.1/me"},
		{URL: "http://user:pass@127.0.0.1/me"},
		{URL: "http://127.0.0.1/me", CacheSize: -1},
		{URL: "http://127.0.0.1/me", Timeout: -time.Second},
		{URL: "http://127.0.0.1/me", ClientRate: -1},
		{URL: "http://127.0.0.1/me", Fields: map[string]string{"role": "roles"}},
		{URL: "http://127.0.0.1/me", Fields: map[string]string{"id": "user..id"}},
		{URL: "http://127.0.0.1/me", GuestWhen: []GuestRule{{Field: ""}}},
		{URL: "http://127.0.0.1/me", GuestStatus: []int{200}},
		{URL: "http://127.0.0.1/me", GuestStatus: []int{503}},
		{URL: "http://127.0.0.1/me", Headers: []string{"Bad Header"}},
		{URL: "http://127.0.0.1/me", SetHeaders: map[string]string{"X": "a\nb"}},
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
		kind answer
	}{
		{aliceJSON, Identity{ID: "alice", Email: "alice@acme.example", Phone: "+14155550101", Name: "Alice", Groups: []string{"general_settings:manager"}}, answerUser},
		{"{ \"id\" :\n \"Alice\" , \"groups\" : \"a, b c\" }", Identity{ID: "Alice", Groups: []string{"a", "b", "c"}}, answerUser},
		{`{"id": 7, "groups": [ "a", 1, null, "a", "b" ]}`, Identity{ID: "7", Groups: []string{"a", "b"}}, answerUser},
		{`{"id":"alice","email":5,"name":["x"],"phone":null,"groups":{}}`, Identity{ID: "alice"}, answerUser},
		{`{"id":"alice","name":"Al\u0000ice"}`, Identity{ID: "alice"}, answerUser},
		{`{"id":null}`, Identity{}, answerGuest},
		{`{"id":0}`, Identity{}, answerGuest},
		{`{}`, Identity{}, answerGuest},
		{`{"id":1.5}`, Identity{}, answerInvalid},
		{`{"id":true}`, Identity{}, answerInvalid},
		{`{"id":"al\nice"}`, Identity{}, answerInvalid},
		{`"alice"`, Identity{}, answerInvalid},
	} {
		got, kind := decodeResponse([]byte(tc.body), &f, nil)
		if kind != tc.kind || !equalIdentity(got, tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.body, got, kind, tc.want, tc.kind)
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
		`{"id":0,"anon":""}`,
	} {
		f.Add([]byte(seed))
	}
	nested, err := newResponseFields(map[string]string{"id": "user.id"})
	if err != nil {
		f.Fatal(err)
	}
	guests, _ := newGuestRules([]GuestRule{{Field: "anon"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fields := range []responseFields{defaultResponseFields, nested} {
			id, kind := decodeResponse(body, &fields, guests)
			if (kind == answerUser) != id.Known() {
				t.Fatalf("kind %v for %+v", kind, id)
			}
			if kind != answerUser {
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

// BenchmarkLookupWarm is one verified request's lookup: an answer from the
// cache for a browser's usual cookies.
func BenchmarkLookupWarm(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, aliceJSON)
	}))
	defer srv.Close()
	l, err := NewLookup(LookupConfig{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	c := Credentials{Cookie: "_ga=GA1.2.3; sid=0123456789abcdef0123456789abcdef; theme=dark", Client: "192.0.2.1"}
	ctx := context.Background()
	if _, err := l.Resolve(ctx, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if id, _ := l.Resolve(ctx, c); id.ID != "alice" {
			b.Fatal("cache miss")
		}
	}
}
