package identity

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"time"
)

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
	// OnAsked is told of each call's result (user, guest, failed) and how
	// long it took, and of each call refused for the rate bounds
	// (over_bound); nil: nobody.
	OnAsked func(result string, took time.Duration)
	// Client makes the calls (default: a client without proxy). Redirects
	// are never followed, whatever the client says: the credentials must
	// not travel elsewhere.
	Client *http.Client
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
		onAsked:     cfg.OnAsked,
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
