package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrUnavailable wraps every failure to get a trustworthy answer from the
// "who am I" endpoint: network errors, timeouts, statuses other than the
// guest ones, answers that cannot be read, the rate bound. Callers fail
// closed on it: a request whose user is unknown never reaches the app.
var ErrUnavailable = errors.New("identity: lookup unavailable")

// ErrOverBound is the lookup's own rate bound: too many lookups from one
// client, or in all. It is an ErrUnavailable.
var ErrOverBound = fmt.Errorf("%w: too many lookups, over the rate bound", ErrUnavailable)

// Defaults of LookupConfig.
const (
	DefaultCacheTTL    = 30 * time.Second
	DefaultNegativeTTL = 5 * time.Second
	DefaultCacheSize   = 10000
	DefaultTimeout     = 2 * time.Second
	DefaultClientRate  = 10  // lookups per second per client
	DefaultTotalRate   = 200 // lookups per second in all
)

// MaxResponseSize bounds how much of an answer is read; a larger one is
// not a who-am-I answer and fails the lookup.
const MaxResponseSize = 64 << 10

// LookupConfig configures a Lookup.
type LookupConfig struct {
	// URL of the application's "who am I" endpoint, such as
	// http://127.0.0.1:9000/api/me (absolute http or https, no userinfo).
	URL string
	// Headers are request headers forwarded to the endpoint as they came,
	// such as Authorization; they are part of the cached session.
	Headers []string
	// SetHeaders are sent with every call (Nextcloud's OCS-APIRequest).
	SetHeaders map[string]string
	// CacheTTL is how long an identity is remembered (default 30s;
	// negative disables caching of identities).
	CacheTTL time.Duration
	// NegativeTTL is how long "not logged in" is remembered (default 5s;
	// negative disables it).
	NegativeTTL time.Duration
	// CacheSize is the most sessions remembered (default 10000); the least
	// recently used is dropped first.
	CacheSize int
	// Timeout bounds one call to the endpoint (default 2s).
	Timeout time.Duration
	// Fields renames answer fields: keys are id, email, phone, name and
	// groups, values the JSON keys the application uses ("id": "user_id").
	// A dot descends into a nested object ("id": "user.id").
	Fields map[string]string
	// GuestWhen are the rules that make a 200 answer a guest, besides an
	// id that is absent, null, "", false or 0.
	GuestWhen []GuestRule
	// GuestStatus are the statuses that mean "not logged in" (default 401
	// and 403). Every other status but 200 fails the lookup.
	GuestStatus []int
	// LoginURL lists the paths (or absolute URLs) of the app's login page:
	// a redirect there means "not logged in". Any other redirect fails the
	// lookup, and redirects are never followed.
	LoginURL []string
	// ClientRate and TotalRate bound calls per second, per client and in
	// all (defaults 10 and 200; bursts of twice that).
	ClientRate, TotalRate float64
	// Client makes the calls (default: a client without proxy). Redirects
	// are never followed, whatever the client says: the credentials must
	// not travel elsewhere.
	Client *http.Client
}

// Credentials are what one request gives the lookup.
type Credentials struct {
	// Cookie is the Cookie header for the endpoint (see CookieReader).
	Cookie string
	// Headers hold the values of LookupConfig.Headers, in that order.
	Headers []string
	// Client is the client's address, for the per-client bound.
	Client string
}

// Empty reports whether there is nothing to ask about.
func (c Credentials) Empty() bool {
	if c.Cookie != "" {
		return false
	}
	for _, h := range c.Headers {
		if h != "" {
			return false
		}
	}
	return true
}

// Lookup asks the application who owns a request's credentials, and
// remembers the answer under their hash. It is safe for concurrent use.
type Lookup struct {
	url         string
	headers     []string
	setHeaders  http.Header
	ttl         time.Duration
	negativeTTL time.Duration
	timeout     time.Duration
	fields      responseFields
	guests      []guestRule
	guestStatus []int
	loginURLs   []*url.URL
	client      *http.Client
	budget      *budget
	now         func() time.Time // replaced by tests

	mu      sync.Mutex
	cache   lruCache
	flights map[credentialKey]*flight
}

// flight is one call to the endpoint that concurrent misses for the same
// credentials share.
type flight struct {
	done chan struct{}
	id   Identity
	err  error
	// forgotten: Forget ran during the call, so its answer must not be
	// cached. Guarded by Lookup.mu.
	forgotten bool
}

// NewLookup checks cfg and applies defaults.
func NewLookup(cfg LookupConfig) (*Lookup, error) {
	u, err := parseEndpoint(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.CacheSize < 0 || cfg.Timeout < 0 || cfg.ClientRate < 0 || cfg.TotalRate < 0 {
		return nil, errors.New("identity: negative cache size, timeout or rate")
	}
	fields, err := newResponseFields(cfg.Fields)
	if err != nil {
		return nil, err
	}
	guests, err := newGuestRules(cfg.GuestWhen)
	if err != nil {
		return nil, err
	}
	l := &Lookup{
		url:         u.String(),
		setHeaders:  http.Header{},
		ttl:         orDefault(cfg.CacheTTL, DefaultCacheTTL),
		negativeTTL: orDefault(cfg.NegativeTTL, DefaultNegativeTTL),
		timeout:     orDefault(cfg.Timeout, DefaultTimeout),
		fields:      fields,
		guests:      guests,
		guestStatus: cfg.GuestStatus,
		budget:      newBudget(cmp.Or(cfg.ClientRate, DefaultClientRate), cmp.Or(cfg.TotalRate, DefaultTotalRate)),
		now:         time.Now,
		cache:       newLRUCache(cmp.Or(cfg.CacheSize, DefaultCacheSize)),
		flights:     make(map[credentialKey]*flight),
	}
	if len(l.guestStatus) == 0 {
		l.guestStatus = []int{http.StatusUnauthorized, http.StatusForbidden}
	}
	for _, code := range l.guestStatus {
		if code < 300 || code > 499 {
			return nil, fmt.Errorf("identity: guest status %d: only 3xx and 4xx statuses can mean \"not logged in\"", code)
		}
	}
	for _, h := range cfg.Headers {
		if !isToken(h) {
			return nil, fmt.Errorf("identity: invalid header name %q", h)
		}
		l.headers = append(l.headers, textproto.CanonicalMIMEHeaderKey(h))
	}
	for k, v := range cfg.SetHeaders {
		if !isToken(k) || !printable(v) {
			return nil, fmt.Errorf("identity: invalid header %q: %q", k, v)
		}
		l.setHeaders.Set(k, v)
	}
	for _, s := range cfg.LoginURL {
		lu, err := u.Parse(s)
		if err != nil || lu.Path == "" {
			return nil, fmt.Errorf("identity: login_url %q: use the login page's path, such as /login", s)
		}
		l.loginURLs = append(l.loginURLs, lu)
	}
	if cfg.Client != nil {
		c := *cfg.Client
		l.client = &c
	} else {
		l.client = &http.Client{Transport: defaultTransport()}
	}
	l.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return l, nil
}

func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("identity: lookup URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("identity: lookup URL %q: scheme must be http or https", raw)
	case u.Host == "":
		return nil, fmt.Errorf("identity: lookup URL %q: no host", raw)
	case u.User != nil:
		return nil, errors.New("identity: lookup URL must not hold credentials")
	}
	return u, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// defaultTransport does not use the environment's proxy settings: the
// endpoint is the application next door, and a proxy would see every
// session token.
func defaultTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.Proxy = nil
	t.MaxIdleConnsPerHost = 32
	return t
}

// Headers lists the request headers the lookup forwards (canonical names),
// in the order Credentials.Headers holds their values.
func (l *Lookup) Headers() []string { return l.headers }

// Resolve returns the identity the application gives the credentials.
// Empty credentials → zero Identity, nil, without any call; a guest → zero
// Identity, nil. An error (wrapping ErrUnavailable, or ctx's error) means
// the answer is unknown. The returned Groups is the caller's own copy.
func (l *Lookup) Resolve(ctx context.Context, c Credentials) (Identity, error) {
	if c.Empty() {
		return Identity{}, nil
	}
	key := keyOf(c)
	now := l.now()

	l.mu.Lock()
	if e, ok := l.cache.get(key, now); ok {
		id := e.id
		l.mu.Unlock()
		return ownCopy(id), nil
	}
	f := l.flights[key]
	if f == nil {
		if !l.budget.take(ClientKey(c.Client), now) {
			l.mu.Unlock()
			return Identity{}, ErrOverBound
		}
		f = &flight{done: make(chan struct{})}
		l.flights[key] = f
		// The call is not tied to this request: if it is cancelled, the
		// other requests waiting for the same answer still get it.
		go l.fly(context.WithoutCancel(ctx), key, c, f)
	}
	l.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return Identity{}, ctx.Err()
	}
	if f.err != nil {
		return Identity{}, f.err
	}
	return ownCopy(f.id), nil
}

// Forget drops the cached answer for the credentials, for example when the
// application logs them out or in. An answer being fetched right now is
// still returned to those waiting for it but is not cached.
func (l *Lookup) Forget(c Credentials) {
	key := keyOf(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cache.forget(key)
	if f := l.flights[key]; f != nil {
		f.forgotten = true
		delete(l.flights, key)
	}
}

// ownCopy returns a copy of a shared identity for one request.
func ownCopy(id Identity) Identity {
	if !id.Known() {
		return Identity{}
	}
	id.Groups = slices.Clone(id.Groups)
	return id
}

// fly makes the call for f and publishes its answer.
func (l *Lookup) fly(ctx context.Context, key credentialKey, c Credentials, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	id, err := l.ask(ctx, c)

	l.mu.Lock()
	if l.flights[key] == f {
		delete(l.flights, key)
	}
	if err == nil && !f.forgotten {
		ttl := l.ttl
		if !id.Known() {
			ttl = l.negativeTTL
		}
		if ttl > 0 {
			l.cache.add(key, id, l.now().Add(ttl))
		}
	}
	f.id, f.err = id, err
	l.mu.Unlock()
	close(f.done)
}

// ask calls the endpoint once. Only a 200 with a user or a guest, a guest
// status, or a redirect to the login page is an answer; anything else is
// an error.
func (l *Lookup) ask(ctx context.Context, c Credentials) (Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header = l.setHeaders.Clone()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "caddy2fa")
	if c.Cookie != "" {
		req.Header.Set("Cookie", c.Cookie)
	}
	for i, name := range l.headers {
		if i < len(c.Headers) && c.Headers[i] != "" {
			req.Header.Set(name, c.Headers[i])
		}
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() {
		// A little draining lets the connection be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusOK:
	case slices.Contains(l.guestStatus, resp.StatusCode):
		return Identity{}, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		if l.toLoginPage(resp) {
			return Identity{}, nil
		}
		return Identity{}, fmt.Errorf("%w: %s redirected to %q; if that is the login page, add it as login_url", ErrUnavailable, l.url, resp.Header.Get("Location"))
	default:
		return Identity{}, fmt.Errorf("%w: %s answered %s", ErrUnavailable, l.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: reading answer: %v", ErrUnavailable, err)
	}
	if len(body) > MaxResponseSize {
		return Identity{}, fmt.Errorf("%w: %s answered more than %d bytes", ErrUnavailable, l.url, MaxResponseSize)
	}
	id, kind := decodeResponse(body, &l.fields, l.guests)
	switch kind {
	case answerGuest:
		return Identity{}, nil
	case answerInvalid:
		return Identity{}, fmt.Errorf("%w: %s answered 200 without a usable JSON object and id", ErrUnavailable, l.url)
	}
	return id, nil
}

// toLoginPage reports whether a redirect goes to one of the login pages.
func (l *Lookup) toLoginPage(resp *http.Response) bool {
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return false
	}
	for _, lu := range l.loginURLs {
		if loc.Host == lu.Host && (loc.Path == lu.Path || strings.HasPrefix(loc.Path, strings.TrimSuffix(lu.Path, "/")+"/")) {
			return true
		}
	}
	return false
}
