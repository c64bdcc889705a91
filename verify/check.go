package verify

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/store"
)

// Limits bound guessing at codes; zero values take the defaults.
type Limits struct {
	// PerChallenge is the attempts one challenge (a sign-in, an admin's
	// change) allows within ChallengeWindow.
	PerChallenge    int           // default 5
	ChallengeWindow time.Duration // default 15m
	// PerUser attempts within UserWindow, across challenges, sessions and
	// instances.
	PerUser    int           // default 10
	UserWindow time.Duration // default 15m
	// PerNetwork attempts within NetworkWindow from one client network (an
	// IPv4 address or IPv6 /64), across accounts.
	PerNetwork    int           // default 30
	NetworkWindow time.Duration // default 10m
}

func (l *Limits) setDefaults() {
	set := func(n *int, d int) {
		if *n <= 0 {
			*n = d
		}
	}
	setWindow := func(w *time.Duration, d time.Duration) {
		if *w <= 0 {
			*w = d
		}
	}
	set(&l.PerChallenge, 5)
	setWindow(&l.ChallengeWindow, 15*time.Minute)
	set(&l.PerUser, 10)
	setWindow(&l.UserWindow, 15*time.Minute)
	set(&l.PerNetwork, 30)
	setWindow(&l.NetworkWindow, 10*time.Minute)
}

// The lock ladder: a hold after every 10 wrong codes in a row, the hard
// hold at 50.
const (
	ladderEvery  = 10
	ladderHardAt = 50
)

// CounterChallenge names the counter of one challenge's attempts: when it
// is spent, the challenge is over (a sign-in starts again, a change is
// cancelled).
const CounterChallenge = "challenge"

// Try is one code as it was entered.
type Try struct {
	User string
	// IP is the client's address; "" when unknown (no network counter).
	IP string
	// Challenge names what the code answers: a flow's id, "admin/<change
	// id>", "unlock/<user>".
	Challenge string
	// Limit and Window bound the challenge's attempts; zero takes
	// PerChallenge and ChallengeWindow.
	Limit  int
	Window time.Duration
	// Unlocking: the code lifts the user's hold on code entry, so the
	// user's own counter and ladder, which hold them, do not govern it;
	// the network's and the challenge's do.
	Unlocking bool
	// Code is what was typed.
	Code string
	// Normalize reads Code; nil: NormalizeCode (six digits).
	Normalize func(raw string) (string, bool)
	// Method names the kind of code for metrics: totp, email, sms,
	// recovery, webauthn, unlock, admin.
	Method string
}

// ErrReplay and ErrExpired, returned by a compare function, make the code wrong
// for that reason: it is counted as a wrong attempt, and the reason is
// told to OnResult.
var (
	ErrReplay  = errors.New("verify: the code was used already")
	ErrExpired = errors.New("verify: no code is outstanding (it expired or was never sent)")
)

// Outcome is what a try came to.
type Outcome int

const (
	Malformed Outcome = iota // not a code at all: it costs no attempt
	Held                     // not compared: a counter or the ladder holds code entry
	Wrong                    // compared, and wrong
	Right                    // compared, and right
)

// Result is a try's outcome.
type Result struct {
	Outcome Outcome
	// Hold is why a Held try was not compared, or, after a Wrong one, the
	// hold it left: the next try would be refused, so the user can be told
	// now.
	Hold *Refused
	// Left is how many attempts the challenge allows after a Wrong try.
	Left int
	// Step is what a Wrong try did to the user's ladder.
	Step Step
}

// ChallengeOver reports whether the challenge's attempts are spent: a
// sign-in must start again, a change is cancelled.
func (r Result) ChallengeOver() bool {
	return r.Hold != nil && r.Hold.Counter == CounterChallenge
}

// CheckerConfig tunes a Checker.
type CheckerConfig struct {
	Realm  string
	Limits Limits
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// OnWrong is told of every wrong code, with what it did to the ladder
	// (a Step that Reached a hold is worth an email to the user).
	OnWrong func(ctx context.Context, t Try, step Step)
	// OnHeld is told of every try that was not compared.
	OnHeld func(t Try, hold *Refused)
	// OnResult is told of every try's result: success, wrong, replay,
	// expired, locked or malformed.
	OnResult func(t Try, result string)
	// Logger hears of what went wrong but did not change the answer.
	Logger *slog.Logger
}

// Checker checks the codes of one realm, every kind by the same rule:
// normalize, reserve an attempt on every counter, compare, count.
type Checker struct {
	backend store.Backend
	keys    accounts.Keys
	cfg     CheckerConfig
}

// NewChecker is a realm's code checker on the store.
func NewChecker(b store.Backend, cfg CheckerConfig) *Checker {
	cfg.Limits.setDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnWrong == nil {
		cfg.OnWrong = func(context.Context, Try, Step) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnHeld == nil {
		cfg.OnHeld = func(Try, *Refused) {}
	}
	if cfg.OnResult == nil {
		cfg.OnResult = func(Try, string) {}
	}
	return &Checker{backend: b, keys: accounts.Keys{Realm: cfg.Realm}, cfg: cfg}
}

// Limits returns the effective limits.
func (c *Checker) Limits() Limits { return c.cfg.Limits }

// Ladder is the user's lock ladder.
func (c *Checker) Ladder(user string) *Ladder {
	return &Ladder{Key: c.keys.Ladder(user), Every: ladderEvery, Waits: DefaultWaits, HardAt: ladderHardAt}
}

// Check runs one try: a malformed code costs nothing; otherwise an
// attempt is reserved before compare is asked about the normalized code.
// An error (from the store or from compare) means the answer is unknown:
// the caller fails closed.
func (c *Checker) Check(ctx context.Context, t Try, compare func(ctx context.Context, code string) (bool, error)) (Result, error) {
	normalize := t.Normalize
	if normalize == nil {
		normalize = NormalizeCode
	}
	code, ok := normalize(t.Code)
	if !ok {
		c.cfg.OnResult(t, "malformed")
		return Result{Outcome: Malformed}, nil
	}
	var ladder *Ladder
	if !t.Unlocking {
		ladder = c.Ladder(t.User)
	}
	a, err := Reserve(ctx, c.backend, c.cfg.Now(), ladder, c.counters(t)...)
	var refused *Refused
	if errors.As(err, &refused) {
		c.cfg.OnHeld(t, refused)
		c.cfg.OnResult(t, "locked")
		return Result{Outcome: Held, Hold: refused}, nil
	}
	if err != nil {
		return Result{}, err
	}
	right, err := compare(ctx, code)
	reason := "wrong"
	switch {
	case errors.Is(err, ErrReplay):
		reason, err = "replay", nil
	case errors.Is(err, ErrExpired):
		reason, err = "expired", nil
	}
	if err != nil {
		return Result{}, err
	}
	if right {
		c.cfg.OnResult(t, "success")
		err := c.Ladder(t.User).Reset(ctx, c.backend)
		if err != nil && !t.Unlocking {
			// The user is in; their run of wrong codes ends with the
			// ladder's own expiry instead.
			c.cfg.Logger.Warn("could not reset the lock ladder after a right code", "user", t.User, "error", err)
			err = nil
		}
		return Result{Outcome: Right}, err
	}
	step := a.Failed()
	c.cfg.OnResult(t, reason)
	c.cfg.OnWrong(ctx, t, step)
	return Result{Outcome: Wrong, Hold: c.holdAfter(a), Left: a.Left(CounterChallenge), Step: step}, nil
}

func (c *Checker) counters(t Try) []Counter {
	l := c.cfg.Limits
	limit, window := t.Limit, t.Window
	if limit <= 0 {
		limit = l.PerChallenge
	}
	if window <= 0 {
		window = l.ChallengeWindow
	}
	cs := make([]Counter, 0, 3)
	if t.IP != "" {
		cs = append(cs, Counter{Name: "ip", Key: c.keys.NetworkFailures(identity.ClientKey(t.IP)), Limit: l.PerNetwork, Window: l.NetworkWindow})
	}
	if !t.Unlocking {
		cs = append(cs, Counter{Name: "user", Key: c.keys.UserFailures(t.User), Limit: l.PerUser, Window: l.UserWindow})
	}
	return append(cs, Counter{Name: CounterChallenge, Key: c.keys.Attempts(t.Challenge), Limit: limit, Window: window})
}

// holdAfter is the hold a wrong code left behind, if any: a ladder step,
// or a counter it used up.
func (c *Checker) holdAfter(a *Attempt) *Refused {
	step := a.Failed()
	switch {
	case step.Hard:
		return &Refused{Hard: true}
	case step.Reached():
		return &Refused{Until: c.cfg.Now().Add(step.Wait)}
	}
	if name, until, ok := a.Spent(); ok {
		return &Refused{Counter: name, Until: until}
	}
	return nil
}

// NormalizeCode accepts a 6-digit code as people paste it ("123 456",
// "123-456"); anything else is not a code.
func NormalizeCode(raw string) (string, bool) {
	if len(raw) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, c := range raw {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == ' ' || c == '-' || c == '.' || c == '\t':
		default:
			return "", false
		}
	}
	if b.Len() != 6 {
		return "", false
	}
	return b.String(), true
}
