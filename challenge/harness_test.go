package challenge

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/orgadmin"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// countingBackend counts calls and can be made to fail, to prove what the
// hot path touches and that a dead store fails closed.
type countingBackend struct {
	store.Backend
	calls atomic.Int64
	// gets counts single-key reads, batches batched ones (each also counts
	// as one call).
	gets, batches atomic.Int64
	down          atomic.Bool
}

func (c *countingBackend) hit() error {
	c.calls.Add(1)
	if c.down.Load() {
		return errors.New("connection refused: " + store.ErrUnavailable.Error())
	}
	return nil
}

func (c *countingBackend) Get(ctx context.Context, k store.Key) ([]byte, error) {
	c.gets.Add(1)
	if err := c.hit(); err != nil {
		return nil, err
	}
	return c.Backend.Get(ctx, k)
}

func (c *countingBackend) GetBatch(ctx context.Context, keys []store.Key) ([][]byte, error) {
	c.batches.Add(1)
	if err := c.hit(); err != nil {
		return nil, err
	}
	return store.GetMany(ctx, c.Backend, keys...)
}

func (c *countingBackend) PutIfAbsentBatch(ctx context.Context, items []store.BatchItem) ([]bool, error) {
	if err := c.hit(); err != nil {
		return nil, err
	}
	return store.PutIfAbsentMany(ctx, c.Backend, items)
}

func (c *countingBackend) Put(ctx context.Context, k store.Key, v []byte, ttl time.Duration) error {
	if err := c.hit(); err != nil {
		return err
	}
	return c.Backend.Put(ctx, k, v, ttl)
}

func (c *countingBackend) Update(ctx context.Context, k store.Key, fn func([]byte) ([]byte, time.Duration, error)) ([]byte, error) {
	if err := c.hit(); err != nil {
		return nil, err
	}
	return c.Backend.Update(ctx, k, fn)
}

func (c *countingBackend) Incr(ctx context.Context, k store.Key, d int64, w time.Duration) (int64, time.Time, error) {
	if err := c.hit(); err != nil {
		return 0, time.Time{}, err
	}
	return c.Backend.Incr(ctx, k, d, w)
}

func (c *countingBackend) Delete(ctx context.Context, k store.Key) error {
	if err := c.hit(); err != nil {
		return err
	}
	return c.Backend.Delete(ctx, k)
}

// harness is a site behind the gate, driven over real HTTP. Identity comes
// from the X-Test-User header and the app session from the "app" cookie.
type harness struct {
	t        *testing.T
	cfg      siteConfig
	pages    *Pages
	admin    *orgadmin.Admin
	checker  *verify.Checker
	codes    *sentcode.Sender
	snap     *policy.Snapshot
	ring     *keyring.Ring
	queue    *notify.Queue
	gate     *gate.Gate
	look     *pages.Site
	backend  *countingBackend
	srv      *httptest.Server
	upstream atomic.Int64
	mu       sync.Mutex
	now      time.Time
}

// siteConfig is everything a test may set about the site: the pages'
// own Config and what the rest of the site takes.
type siteConfig struct {
	Config
	Brand                        pages.Branding
	EmailSender                  notify.EmailSender
	SMSSender                    notify.SMSSender
	CodeLifetime                 time.Duration
	EmailCooldown, SMSCooldown   time.Duration
	MaxCodeAttempts              int
	UserFailLimit, IPFailLimit   int
	UserFailWindow, IPFailWindow time.Duration
	AdminPermission              string
	EnforceImmediately           bool
	SiteURL                      string
	// Queue sends the setup emails through a durable queue.
	Queue bool
	// Passkeys offers passkeys, as a site with site_url PasskeySite.
	Passkeys bool
	// Fresh are the site's step-up paths.
	Fresh []gate.FreshRule
}

// PasskeySite is the site_url of harnesses that offer passkeys.
const PasskeySite = "https://app.example.com"

func newHarness(t *testing.T, mutate ...func(*siteConfig, *policy.Policy)) *harness {
	t.Helper()
	ring, _ := keyring.Parse(keyring.Generate())
	return newHarnessOn(t, tempStore(t), ring, mutate...)
}

// tempStore is an embedded store that ends with the test.
func tempStore(t *testing.T) store.Backend {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newHarnessOn is a site on a given store and keys: several harnesses on
// one shared store are several instances of the gateway.
func newHarnessOn(t *testing.T, b store.Backend, ring *keyring.Ring, mutate ...func(*siteConfig, *policy.Policy)) *harness {
	t.Helper()
	h := &harness{t: t, backend: &countingBackend{Backend: b}, now: time.Now(), ring: ring}
	pol := policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}}
	cfg := siteConfig{Config: Config{Issuer: "Acme Corp", Now: h.clock}}
	for _, m := range mutate {
		m(&cfg, &pol)
	}
	cfg.setDefaults()
	h.cfg = cfg
	h.snap = policy.NewSnapshot(h.backend, cfg.Realm, pol)
	realm, err := gate.NewRealm(cfg.Realm, h.backend, ring, h.snap, h.clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.gate, err = gate.New(gate.Config{PathPrefix: cfg.PathPrefix, SessionLifetime: cfg.SessionLifetime, EnforceImmediately: cfg.EnforceImmediately, Fresh: cfg.Fresh}, realm)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnUserChanged = realm.Forget
	mux := h.assemble(cfg, realm)
	// The limits in force, for tests that count to them.
	l := h.checker.Limits()
	h.cfg.MaxCodeAttempts, h.cfg.UserFailLimit, h.cfg.UserFailWindow, h.cfg.IPFailLimit, h.cfg.IPFailWindow = l.PerChallenge, l.PerUser, l.UserWindow, l.PerNetwork, l.NetworkWindow
	// Follow change notifications, as every instance does.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go realm.Run(ctx)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The gate and the pages, as the Caddy handler puts them together.
		v := h.gate.Decide(r.Context(), gate.Facts{Request: r, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Secure: r.TLS != nil, CookieLines: r.Header["Cookie"], Who: testIdentities{}})
		id := v.Identity
		for _, c := range v.Cookies {
			http.SetCookie(w, c)
		}
		switch v.Kind {
		case gate.Pages:
			mux.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), id)))
		case gate.Pass:
			h.upstream.Add(1)
			io.WriteString(w, "app:"+r.URL.RequestURI())
		case gate.Challenge:
			h.pages.Begin(w, r, id)
		case gate.StepUp:
			h.pages.BeginStepUp(w, r, id, v.Within)
		case gate.Unavailable:
			h.look.Unavailable(w, r)
		default:
			http.Error(w, "refused", http.StatusBadRequest)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// assemble builds the site's parts as the Caddy handler does.
func (h *harness) assemble(cfg siteConfig, realm *gate.Realm) *http.ServeMux {
	t := h.t
	var err error
	h.look, err = pages.New(pages.Config{Prefix: cfg.PathPrefix, Org: cfg.Issuer, Brand: cfg.Brand, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	notices := NewNotices(h.backend, NoticesConfig{Realm: cfg.Realm, Org: cfg.Issuer, SiteURL: cfg.SiteURL, PathPrefix: cfg.PathPrefix, Email: cfg.EmailSender, Logger: cfg.Logger, Now: h.clock})
	h.checker = verify.NewChecker(h.backend, verify.CheckerConfig{
		Realm: cfg.Realm, Now: h.clock, OnWrong: notices.WrongCode, OnHeld: notices.HeldTry,
		Limits: verify.Limits{PerChallenge: cfg.MaxCodeAttempts, ChallengeWindow: cfg.FlowLifetime, PerUser: cfg.UserFailLimit, UserWindow: cfg.UserFailWindow, PerNetwork: cfg.IPFailLimit, NetworkWindow: cfg.IPFailWindow},
	})
	h.codes = sentcode.New(h.backend, h.ring, sentcode.Config{
		Realm: cfg.Realm, Org: cfg.Issuer, Email: cfg.EmailSender, SMS: cfg.SMSSender, Lifetime: cfg.CodeLifetime,
		Limits: accounts.SendLimits{EmailCooldown: cfg.EmailCooldown, SMSCooldown: cfg.SMSCooldown}, Logger: cfg.Logger, Now: h.clock,
	})
	plan := &rollout.Plan{Store: h.backend, Realm: cfg.Realm, AdminPermission: cmp.Or(cfg.AdminPermission, orgadmin.DefaultAdminPermission), Now: h.clock}
	parts := Parts{Store: h.backend, Keys: h.ring, Policy: h.snap, Site: h.look, Checker: h.checker, Codes: h.codes, Notices: notices, Rollout: plan}
	if cfg.Passkeys {
		if parts.Passkeys, err = passkey.New(passkey.Config{SiteURL: PasskeySite, Name: cfg.Issuer}); err != nil {
			t.Fatal(err)
		}
	}
	h.pages, err = New(cfg.Config, parts)
	if err != nil {
		t.Fatal(err)
	}
	adminCfg := orgadmin.Config{Realm: cfg.Realm, Org: cfg.Issuer, AdminPermission: cfg.AdminPermission, SiteURL: cfg.SiteURL,
		EnforceImmediately: cfg.EnforceImmediately, Email: cfg.EmailSender, SMS: cfg.SMSSender != nil, WebAuthn: cfg.Passkeys, Logger: cfg.Logger, OnUserChanged: realm.Forget, Now: h.clock}
	if cfg.Queue {
		h.queue = notify.NewQueue(h.backend, cfg.EmailSender, notify.QueueOptions{Rate: 1000})
		adminCfg.Mailer = h.queue
	}
	h.admin, err = orgadmin.New(adminCfg, orgadmin.Parts{Store: h.backend, Policy: h.snap, Checker: h.checker, Codes: h.codes})
	if err != nil {
		t.Fatal(err)
	}
	html, err := orgadmin.NewHTML(h.admin, h.look, pages.NewCSRF(h.ring, cfg.Realm), h.pages, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.pages.Register(mux)
	html.Register(mux)
	orgadmin.NewAPI(h.admin, h.look, h.pages, nil).Register(mux)
	return mux
}

// userFailKey is the counter of a user's wrong codes.
func (h *harness) userFailKey(user string) store.Key {
	return accounts.Keys{Realm: h.cfg.Realm}.UserFailures(user)
}

// testIdentities reads who a test request is from its X-Test headers and
// its "app" cookie.
type testIdentities struct{}

func (testIdentities) Identify(r *http.Request, _ identity.Cookies, _ bool) (identity.Identity, error) {
	id := identity.Identity{ID: r.Header.Get("X-Test-User"), Email: r.Header.Get("X-Test-Email"), Phone: r.Header.Get("X-Test-Phone")}
	if g := r.Header.Get("X-Test-Groups"); g != "" {
		id.Groups = strings.Split(g, ",")
	}
	if c, err := r.Cookie("app"); err == nil {
		id.AppSession = c.Value
	}
	return id, nil
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// browser is one user agent: a cookie jar that does not follow redirects.
type browser struct {
	h      *harness
	user   string
	email  string
	phone  string
	groups string
	client *http.Client
}

func (h *harness) browser(user, appSession string) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(h.srv.URL)
	if appSession != "" {
		jar.SetCookies(u, []*http.Cookie{{Name: "app", Value: appSession, Path: "/"}})
	}
	return &browser{h: h, user: user, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type reply struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) reply {
	b.h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.h.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.user != "" {
		req.Header.Set("X-Test-User", b.user)
	}
	if b.email != "" {
		req.Header.Set("X-Test-Email", b.email)
	}
	if b.phone != "" {
		req.Header.Set("X-Test-Phone", b.phone)
	}
	if b.groups != "" {
		req.Header.Set("X-Test-Groups", b.groups)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(raw), header: resp.Header}
}

func (b *browser) get(path string, hdr ...string) reply {
	return b.do(http.MethodGet, path, nil, hdr...)
}

// follow GETs path and follows redirects within the site, returning the
// last reply.
func (b *browser) follow(path string) reply {
	b.h.t.Helper()
	return b.follow2(path)
}

// follow2 is follow with request headers.
func (b *browser) follow2(path string, hdr ...string) reply {
	b.h.t.Helper()
	for range 10 {
		r := b.get(path, hdr...)
		if r.status < 300 || r.status >= 400 {
			return r
		}
		path = r.location
	}
	b.h.t.Fatal("redirect loop")
	return reply{}
}

// submitCode posts a code form found on page.
func (b *browser) submitCode(page reply, code string) reply {
	b.h.t.Helper()
	action, csrf := formOf(b.h.t, page.body)
	return b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {code}})
}

// formOf returns the code form's action and CSRF token, checking that the
// form has exactly one input named code.
func formOf(t *testing.T, body string) (action, csrf string) {
	t.Helper()
	action, csrf, codes := htmltest.CodeForm(t, body)
	if codes != 1 {
		t.Fatalf("the code form has %d inputs named code, want 1:\n%s", codes, body)
	}
	return action, csrf
}

func (h *harness) code(key string, offset time.Duration) string {
	h.t.Helper()
	c, err := totp.GenerateCodeCustom(strings.ReplaceAll(key, " ", ""), h.clock().Add(offset), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// enroll walks a first login to the enrollment page and returns the key
// shown there and the page.
func (b *browser) startEnrollment(path string) (string, reply) {
	b.h.t.Helper()
	r := b.get(path)
	if r.status != http.StatusFound || r.location != b.h.cfg.PathPrefix+"/" {
		b.h.t.Fatalf("unverified request: want 302 to the challenge, got %d %q", r.status, r.location)
	}
	page := b.follow(r.location)
	if !strings.Contains(page.body, "totp-key") {
		page = b.follow(b.h.cfg.PathPrefix + "/enroll/totp") // several methods: choose the app
	}
	key := htmltest.Text(page.body, "totp-key")
	if key == "" {
		b.h.t.Fatalf("no TOTP key on enrollment page:\n%s", page.body)
	}
	return key, page
}

// savedRecoveryCodes passes the page that shows a first enrollment's
// recovery codes, as a user does who saved them, and returns where it
// sends them on to. Any other reply is returned as it is.
func (b *browser) savedRecoveryCodes(r reply) reply {
	b.h.t.Helper()
	if r.status != http.StatusSeeOther || r.location != b.h.cfg.PathPrefix+"/recovery-codes" {
		return r
	}
	page := b.follow(r.location)
	if n := strings.Count(page.body, "<li><code>"); n != 10 {
		b.h.t.Fatalf("the recovery codes page shows %d codes, want 10:\n%s", n, page.body)
	}
	_, csrf, _ := htmltest.CodeForm(b.h.t, page.body)
	return b.do(http.MethodPost, b.h.cfg.PathPrefix+"/recovery-codes", url.Values{"csrf": {csrf}, "saved": {"1"}})
}

// enrollTOTP completes a first login for path and returns the TOTP key.
func (b *browser) enrollTOTP(path string) string {
	b.h.t.Helper()
	key, page := b.startEnrollment(path)
	r := b.savedRecoveryCodes(b.submitCode(page, b.h.code(key, 0)))
	if r.status != http.StatusSeeOther || r.location != path {
		b.h.t.Fatalf("after enrollment: want 303 to %s, got %d %q\n%s", path, r.status, r.location, r.body)
	}
	return key
}
