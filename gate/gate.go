package gate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Config is what a site's gate needs to know.
type Config struct {
	// PathPrefix is where the challenge pages live ("/.2fa").
	PathPrefix string
	// SessionLifetime bounds a verified session (and a grandfathered app
	// session, from when it was first seen).
	SessionLifetime time.Duration
	// EnforceImmediately challenges app sessions already open when 2FA is
	// turned on.
	EnforceImmediately bool
	// Bypass lists the paths never challenged.
	Bypass *Bypass
	// Fresh asks for a recent pass on some paths (step-up paths).
	Fresh []FreshRule
	// OnEvent is told of notable events (metrics).
	OnEvent func(string)
	// ClientIP is a request's client address, for the audit of refusals
	// (asked only then); default the peer's address.
	ClientIP func(*http.Request) string
}

// Gate decides, for every request of one site, whether it may go on to
// the app. A verified user's request costs memory reads only: the policy,
// the user's epoch and their trusted device are cached by the site's
// realm, whose change notifications keep the caches true.
type Gate struct {
	cfg   Config
	realm *Realm
}

// New builds a site's gate on its realm.
func New(cfg Config, realm *Realm) (*Gate, error) {
	if realm == nil {
		return nil, errors.New("gate: a realm is required")
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	if cfg.PathPrefix == "" {
		cfg.PathPrefix = "/.2fa"
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(string) {}
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = identity.PeerIP
	}
	return &Gate{cfg: cfg, realm: realm}, nil
}

// Realm is what the sites of one realm share: its policy, and the caches
// of its users' epochs, sessions, devices and notes, kept true by one
// subscription to the store's change notifications.
type Realm struct {
	name     string
	backend  store.Backend
	codec    accounts.Codec
	policy   *policy.Snapshot
	now      func() time.Time
	logger   *slog.Logger
	epochs   *epochCache
	sessions *memo[[16]byte, cachedSession]
	devices  *rechecked[string, time.Time] // zero time: not trusted
	seen     *memo[[16]byte, accounts.SeenNote]
	keys     *keyedDigest // of the session and seen caches
	// refusals folds the audit events of refused requests per client.
	refusals *accounts.Folder
}

// cacheLimit bounds each cache; a dropped entry costs one store read or
// decryption to bring back.
const cacheLimit = 100_000

// NewRealm is a realm's shared gate state; now (nil: time.Now) is its
// clock. The policy snapshot must follow the realm.
func NewRealm(name string, b store.Backend, ring *keyring.Ring, pol *policy.Snapshot, now func() time.Time, logger *slog.Logger) (*Realm, error) {
	if b == nil || ring == nil || pol == nil {
		return nil, errors.New("gate: store, keys and policy are required")
	}
	if pol.Realm() != name {
		return nil, errors.New("gate: the policy snapshot follows another realm")
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Realm{
		name: name, backend: b, codec: accounts.NewCodec(ring, name), policy: pol, now: now, logger: logger,
		epochs: newEpochCache(cacheLimit), sessions: newMemo[[16]byte, cachedSession](cacheLimit),
		devices: newRechecked[string, time.Time](cacheLimit), seen: newMemo[[16]byte, accounts.SeenNote](cacheLimit),
		keys: newKeyedDigest(), refusals: accounts.NewFolder(accounts.FoldWindow, 10_000),
	}, nil
}

// Facts are what the gate is told of one request, read by the transport
// before it asks: the path, our own cookies, how the Cookie header reads,
// and who can say who the request is.
type Facts struct {
	// Request is passed to Who (the gate itself does not read it).
	Request *http.Request
	Path    string // decoded
	RawPath string // as sent (escaped)
	// Secure: the request came over TLS, so our cookies are __Host-.
	Secure bool
	// CookieLines are the request's Cookie header lines, as sent.
	CookieLines []string
	// Cookies is the Cookie header as the gateway read it; CookieErr says
	// it holds a look-alike of a credential cookie.
	Cookies   identity.Cookies
	CookieErr error
	// Who identifies the request; asked only when the path is neither
	// bypassed nor refused (a lookup may cost a call to the app).
	Who Identifier
	// Identity is who Who said the request is (set by Decide).
	Identity identity.Identity
}

// Identifier says who a request is: placeholders filled in by the server,
// or the app's who-am-I lookup.
type Identifier interface {
	// Identify returns the request's identity; the zero Identity for no
	// one. An error means it cannot be known now, or (an *Unchecked) that
	// a proxied request carries a credential the identity source cannot
	// see.
	Identify(r *http.Request, cookies identity.Cookies, proxied bool) (identity.Identity, error)
}

// Unchecked names a credential the app may accept (an Authorization
// header, a session id in the URL) that the identity source does not see:
// the gateway would take the request for no one's.
type Unchecked struct{ What string }

func (u *Unchecked) Error() string {
	return "gate: a credential the identity source does not see: " + u.What
}

// Kind is what the gate decided.
type Kind int

const (
	Pass             Kind = iota // on to the app
	Pages                        // one of our pages
	Challenge                    // an identified user who must pass 2FA first
	Unavailable                  // the answer cannot be known now (503): never pass
	RefusePath                   // control characters in the path (400)
	RefuseCookie                 // a look-alike of a credential cookie (400)
	RefuseCredential             // a credential the identity source does not see (400)
	StepUp                       // a step-up path, and the user's pass is not recent enough
)

// Verdict is the gate's answer.
type Verdict struct {
	Kind Kind
	// Cookies to set on the way (a new session on a trusted device, the
	// note of an app session, the expiry of a refused look-alike).
	Cookies []*http.Cookie
	// Err says why with Unavailable and the refusals.
	Err error
	// Bypassed: a bypass path, which never carries an identity onward.
	Bypassed bool
	// Identity is who the request is (with Pass, Pages and Challenge).
	Identity identity.Identity
	// Passed says how the user passed, with Pass (a zero At: not known).
	Passed Passed
	// Within is how recent a pass a StepUp path wants.
	Within time.Duration
}

// Passed is how a verified request's user passed 2FA.
type Passed struct {
	At            int64  // when a code was last entered in the session (Unix)
	Method        string // how (a policy method name; "" when not known)
	TrustedDevice bool   // the session came from a remembered device
	Carried       bool   // an app session from before 2FA was on
}

// Decide is the gate, the README's request diagram case by case.
func (g *Gate) Decide(ctx context.Context, facts Facts) Verdict {
	f := &facts
	own := g.OwnPath(f.Path)
	switch {
	case CheckPath(f.Path) != nil:
		g.cfg.OnEvent("path_refused")
		return Verdict{Kind: RefusePath, Err: ErrControlInPath}
	case f.CookieErr != nil:
		return g.refuseCookie(ctx, f, f.CookieErr)
	case !own && g.cfg.Bypass.Matches(f.RawPath, f.Path):
		return Verdict{Kind: Pass, Bypassed: true}
	}
	id, err := f.Who.Identify(f.Request, f.Cookies, !own)
	switch {
	case err != nil:
		return g.unidentified(ctx, f, err)
	case own:
		return Verdict{Kind: Pages, Identity: id}
	case !id.Known():
		return Verdict{Kind: Pass}
	}
	f.Identity = id
	p := g.realm.policy.Current()
	if !p.Enabled {
		// 2FA is off: note the app session, for the admins and for
		// grandfathering when it is turned on.
		return Verdict{Kind: Pass, Identity: id, Cookies: g.noteAppSession(ctx, f)}
	}
	s, ok, err := g.validSession(ctx, f)
	switch {
	case err != nil:
		return g.unavailable(err)
	case ok:
		if within, step := g.freshWithin(f); step && !g.freshEnough(s, within) {
			g.cfg.OnEvent("step_up_required")
			return Verdict{Kind: StepUp, Identity: id, Within: within}
		}
		return Verdict{Kind: Pass, Identity: id, Passed: s}
	}
	// App sessions open before 2FA was turned on continue until next login.
	if c, err := g.grandfathered(ctx, f, p.EnabledAt); err != nil {
		return g.unavailable(err)
	} else if c != nil {
		g.cfg.OnEvent("grandfathered")
		return Verdict{Kind: Pass, Identity: id, Cookies: []*http.Cookie{c}, Passed: Passed{Carried: true}}
	}
	// A new app session on a trusted device passes without a code.
	if c, err := g.trustedDevice(ctx, f, p); err != nil {
		return g.unavailable(err)
	} else if c != nil {
		g.cfg.OnEvent("device_passed")
		return Verdict{Kind: Pass, Identity: id, Cookies: []*http.Cookie{c}, Passed: Passed{TrustedDevice: true}}
	}
	g.cfg.OnEvent("challenge_required")
	return Verdict{Kind: Challenge, Identity: id}
}

// unidentified answers a request whose identity could not be known: a
// credential the identity source does not see is refused, anything else
// is unavailable. (Apart from Decide, so the hot path allocates nothing
// for the error it does not have.)
func (g *Gate) unidentified(ctx context.Context, f *Facts, err error) Verdict {
	if unchecked, ok := errors.AsType[*Unchecked](err); ok {
		return g.refuseCredential(ctx, f, unchecked)
	}
	return g.unavailable(err)
}

func (g *Gate) unavailable(err error) Verdict {
	g.cfg.OnEvent("store_unavailable")
	return Verdict{Kind: Unavailable, Err: err}
}

// OwnPath reports whether the path is one of our pages.
func (g *Gate) OwnPath(path string) bool {
	p := g.cfg.PathPrefix
	return path == p || strings.HasPrefix(path, p+"/")
}

// ownCookie reads one of our cookies from the facts.
func (f *Facts) ownCookie(base string) string {
	return accounts.ReadOwnCookie(f.CookieLines, f.Secure, base)
}
