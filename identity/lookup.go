package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrUnavailable wraps every failure to get an answer from the "who am I"
// endpoint (network errors, timeouts, 5xx). Callers fail closed on it.
var ErrUnavailable = errors.New("identity: lookup unavailable")

// Defaults of LookupConfig.
const (
	DefaultCacheTTL    = time.Minute
	DefaultNegativeTTL = 5 * time.Second
	DefaultCacheSize   = 10000
	DefaultTimeout     = 2 * time.Second
)

// MaxResponseSize bounds how much of an answer is read. A larger answer is
// not a "who am I" answer (it is typically a login page) and counts as "not
// logged in".
const MaxResponseSize = 64 << 10

// LookupConfig configures a Lookup.
type LookupConfig struct {
	// URL of the application's "who am I" endpoint, such as
	// http://127.0.0.1:9000/api/me (absolute http or https, no userinfo).
	URL string
	// Cookie is the name of the application's session cookie; only this
	// cookie is forwarded.
	Cookie string
	// CacheTTL is how long an identity is remembered (default 1m; negative
	// disables caching of identities).
	CacheTTL time.Duration
	// NegativeTTL is how long "not logged in" is remembered (default 5s;
	// negative disables it). An application that keeps the same session
	// token across its login stays "not logged in" for up to this long
	// after the login unless the caller calls Forget.
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
	// Client makes the calls (default: a client without proxy). Redirects
	// are never followed, whatever the client says: the session cookie must
	// not travel elsewhere, and a redirect means "not logged in".
	Client *http.Client
}

// Lookup asks the application who owns a session, and remembers the answer
// under a hash of the session token. It is safe for concurrent use.
type Lookup struct {
	url         string
	cookie      string
	ttl         time.Duration
	negativeTTL time.Duration
	size        int
	timeout     time.Duration
	fields      responseFields
	client      *http.Client
	now         func() time.Time // replaced by tests

	mu      sync.Mutex
	entries map[sessionKey]*cacheEntry
	// newest and oldest ends of the recency list of entries.
	newest, oldest *cacheEntry
	flights        map[sessionKey]*flight
}

// sessionKey is the SHA-256 of a session token, so the cache never holds a
// usable token.
type sessionKey [sha256.Size]byte

type cacheEntry struct {
	key          sessionKey
	id           Identity // AppSession always empty
	expires      time.Time
	newer, older *cacheEntry
}

// flight is one call to the endpoint that concurrent misses for the same
// session share.
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
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("identity: lookup URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("identity: lookup URL %q: scheme must be http or https", cfg.URL)
	case u.Host == "":
		return nil, fmt.Errorf("identity: lookup URL %q: no host", cfg.URL)
	case u.User != nil:
		return nil, errors.New("identity: lookup URL must not hold credentials")
	}
	if !isToken(cfg.Cookie) {
		return nil, fmt.Errorf("identity: invalid session cookie name %q", cfg.Cookie)
	}
	if cfg.CacheSize < 0 || cfg.Timeout < 0 {
		return nil, errors.New("identity: negative cache size or timeout")
	}
	fields, err := newResponseFields(cfg.Fields)
	if err != nil {
		return nil, err
	}
	l := &Lookup{
		url:         u.String(),
		cookie:      cfg.Cookie,
		ttl:         orDefault(cfg.CacheTTL, DefaultCacheTTL),
		negativeTTL: orDefault(cfg.NegativeTTL, DefaultNegativeTTL),
		size:        cfg.CacheSize,
		timeout:     orDefault(cfg.Timeout, DefaultTimeout),
		fields:      fields,
		now:         time.Now,
		entries:     make(map[sessionKey]*cacheEntry),
		flights:     make(map[sessionKey]*flight),
	}
	if l.size == 0 {
		l.size = DefaultCacheSize
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

// Resolve returns the identity of the request's app session. No session
// cookie → zero Identity, nil, without any call. A session the application
// does not recognise → zero Identity, nil. An error (wrapping ErrUnavailable,
// or ctx's error) means the answer is unknown. The returned Groups is the
// caller's own copy.
func (l *Lookup) Resolve(ctx context.Context, r *http.Request) (Identity, error) {
	session := sessionCookie(r.Header, l.cookie)
	if session == "" {
		return Identity{}, nil
	}
	key := hashSession(session)
	now := l.now()

	l.mu.Lock()
	if e := l.entries[key]; e != nil {
		if now.Before(e.expires) {
			l.touch(e)
			id := e.id
			l.mu.Unlock()
			return withSession(id, session), nil
		}
		l.remove(e)
	}
	f := l.flights[key]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		l.flights[key] = f
		// The call is not tied to this request: if it is cancelled, the
		// other requests waiting for the same answer still get it.
		go l.fly(context.WithoutCancel(ctx), key, session, f)
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
	return withSession(f.id, session), nil
}

// Forget drops the cached answer for session (the value of the session
// cookie, as AppSessionFromCookie returns it), for example after the
// application logs it out or in. An answer being fetched right now is
// still returned to those waiting for it but is not cached.
func (l *Lookup) Forget(session string) {
	key := hashSession(session)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[key]; e != nil {
		l.remove(e)
	}
	if f := l.flights[key]; f != nil {
		f.forgotten = true
		delete(l.flights, key)
	}
}

func hashSession(session string) sessionKey {
	return sha256.Sum256([]byte(session))
}

// withSession returns a copy of a shared identity for one request.
func withSession(id Identity, session string) Identity {
	if !id.Known() {
		return Identity{}
	}
	id.Groups = slices.Clone(id.Groups)
	id.AppSession = session
	return id
}

// fly makes the call for f and publishes its answer.
func (l *Lookup) fly(ctx context.Context, key sessionKey, session string, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	id, err := l.ask(ctx, session)

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
			l.add(key, id, l.now().Add(ttl))
		}
	}
	f.id, f.err = id, err
	l.mu.Unlock()
	close(f.done)
}

// ask calls the endpoint once. Only 200 with a valid answer is an
// identity; a redirect or any 4xx means "not logged in"; anything else is
// an error.
func (l *Lookup) ask(ctx context.Context, session string) (Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header = http.Header{
		"Cookie":     {l.cookieHeader(session)},
		"Accept":     {"application/json"},
		"User-Agent": {"caddy2fa"},
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
	case resp.StatusCode >= 300 && resp.StatusCode < 500:
		return Identity{}, nil
	default:
		return Identity{}, fmt.Errorf("%w: %s answered %s", ErrUnavailable, l.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: reading answer: %v", ErrUnavailable, err)
	}
	if len(body) > MaxResponseSize {
		return Identity{}, nil
	}
	id, _ := decodeResponse(body, &l.fields)
	return id, nil
}

// cookieHeader forwards every value the client sent under the cookie's
// name (see AppSessionFromCookie), so the endpoint sees what the
// application sees.
func (l *Lookup) cookieHeader(session string) string {
	if !strings.Contains(session, ";") {
		return l.cookie + "=" + session
	}
	var b strings.Builder
	for i, v := range strings.Split(session, "; ") {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l.cookie)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

// The cache below is a map plus a doubly linked recency list; l.mu guards
// both.

func (l *Lookup) add(key sessionKey, id Identity, expires time.Time) {
	if e := l.entries[key]; e != nil {
		l.remove(e)
	}
	for len(l.entries) >= l.size && l.oldest != nil {
		l.remove(l.oldest)
	}
	e := &cacheEntry{key: key, id: id, expires: expires}
	l.entries[key] = e
	l.pushNewest(e)
}

func (l *Lookup) touch(e *cacheEntry) {
	if l.newest == e {
		return
	}
	l.unlink(e)
	l.pushNewest(e)
}

func (l *Lookup) remove(e *cacheEntry) {
	l.unlink(e)
	delete(l.entries, e.key)
}

func (l *Lookup) pushNewest(e *cacheEntry) {
	e.older = l.newest
	e.newer = nil
	if l.newest != nil {
		l.newest.newer = e
	}
	l.newest = e
	if l.oldest == nil {
		l.oldest = e
	}
}

func (l *Lookup) unlink(e *cacheEntry) {
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		l.newest = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		l.oldest = e.newer
	}
	e.newer, e.older = nil, nil
}
