package identity

import (
	"context"
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
	onAsked     func(result string, took time.Duration)
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
			l.asked("over_bound", 0)
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

func (l *Lookup) asked(result string, took time.Duration) {
	if l.onAsked != nil {
		l.onAsked(result, took)
	}
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
	start := time.Now()
	id, err := l.ask(ctx, c)
	switch {
	case err != nil:
		l.asked("failed", time.Since(start))
	case id.Known():
		l.asked("user", time.Since(start))
	default:
		l.asked("guest", time.Since(start))
	}

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
