// Package sentcode sends one-time codes by email or text message and takes
// them back: each send within its allowance (a cooldown, hourly and daily
// caps), the code kept only as a keyed hash bound to the user, the
// challenge, the purpose, the method and the address, single use, and
// replaced by a resend. Checking a typed code against it follows package
// verify's rule; this package only says whether it is the code.
package sentcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// Purposes a code can serve; a code for one never works for another.
const (
	Login  = "login"
	Enroll = "enroll"
	Admin  = "admin"
	Unlock = "unlock"
)

// Config tunes a Sender; zero values take the defaults noted.
type Config struct {
	Realm string
	// Org names the organisation in the messages.
	Org string
	// Catalog and Language write a code not sent from a page (no
	// Code.Words) in the user's language, else the realm's default;
	// nil Catalog: the shipped one.
	Catalog  *locale.Catalog
	Language string
	// Email and SMS deliver; nil: the method sends nothing.
	Email notify.EmailSender
	SMS   notify.SMSSender
	// Lifetime is how long a sent code stays valid.
	Lifetime time.Duration // default 10m
	// Limits bound sending; zero values take the defaults.
	Limits accounts.SendLimits
	Logger *slog.Logger
	// OnEvent is told of sends, caps and failures (metrics).
	OnEvent func(name string)
	// OnDelivered is told how long each delivery took (metrics).
	OnDelivered func(method string, took time.Duration)
	Now         func() time.Time
}

// DefaultLimits are the send limits when none are configured.
var DefaultLimits = accounts.SendLimits{EmailCooldown: 30 * time.Second, SMSCooldown: time.Minute, EmailPerHour: 5, SMSPerHour: 5, SMSPerDay: 10}

func (c *Config) setDefaults() {
	if c.Lifetime <= 0 {
		c.Lifetime = 10 * time.Minute
	}
	d, l := DefaultLimits, &c.Limits
	for _, v := range []struct {
		n *int
		d int
	}{{&l.EmailPerHour, d.EmailPerHour}, {&l.SMSPerHour, d.SMSPerHour}, {&l.SMSPerDay, d.SMSPerDay}} {
		if *v.n <= 0 {
			*v.n = v.d
		}
	}
	if l.EmailCooldown <= 0 {
		l.EmailCooldown = d.EmailCooldown
	}
	if l.SMSCooldown <= 0 {
		l.SMSCooldown = d.SMSCooldown
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OnDelivered == nil {
		c.OnDelivered = func(string, time.Duration) {}
	}
	if c.OnEvent == nil {
		c.OnEvent = func(string) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Catalog == nil {
		c.Catalog = locale.Default()
	}
}

// Sender sends and takes back the codes of one realm.
type Sender struct {
	backend store.Backend
	ring    *keyring.Ring
	cfg     Config
}

// New is a realm's code sender.
func New(b store.Backend, ring *keyring.Ring, cfg Config) *Sender {
	cfg.setDefaults()
	return &Sender{backend: b, ring: ring, cfg: cfg}
}

// Code is one code to send: to whom, for which challenge and purpose, by
// which method, to which address.
type Code struct {
	Challenge string // a flow's id, "admin/<change>/<hash>", "unlock/<user>"
	User      string
	Method    string // policy.MethodEmail or policy.MethodSMS
	Target    string // the address or E.164 number
	Purpose   string
	// Words are the language of the page that asked for the code; nil:
	// the user's own.
	Words *locale.Words
}

// Refusal says why a code was not sent, in words for the user.
type Refusal struct {
	Message string
	// Retry is when sending may work again (zero: not time-bound).
	Retry time.Time
}

func (e *Refusal) Error() string { return e.Message }

// ErrDeliveryFailed: the provider did not take the message. The send was
// given back, so the user can ask again at once.
var ErrDeliveryFailed = errors.New("we couldn't send the code")

// Lifetime is how long a sent code stays valid.
func (s *Sender) Lifetime() time.Duration { return s.cfg.Lifetime }

// Limits are the effective send limits.
func (s *Sender) Limits() accounts.SendLimits { return s.cfg.Limits }

// Can reports whether the method can send codes at all.
func (s *Sender) Can(method string) bool {
	switch method {
	case policy.MethodEmail:
		return s.cfg.Email != nil
	case policy.MethodSMS:
		return s.cfg.SMS != nil
	}
	return false
}

// Send delivers a fresh code, replacing an earlier one of the challenge
// and method, within the cooldown and the caps. A *Refusal says why not
// in the user's words; ErrDeliveryFailed that the provider failed.
func (s *Sender) Send(ctx context.Context, c Code) error {
	allowed, err := accounts.TakeSend(ctx, s.backend, s.cfg.Realm, c.User, c.Method, c.Target, s.cfg.Limits, s.cfg.Now())
	var refused *accounts.SendRefused
	switch {
	case errors.As(err, &refused) && refused.Cooldown:
		return &Refusal{Message: s.words(ctx, c).T("notify.refusal.cooldown"), Retry: refused.Retry}
	case errors.As(err, &refused):
		s.cfg.OnEvent("send_capped_" + c.Method)
		s.cfg.Logger.Warn("code send refused: cap reached", "realm", s.cfg.Realm, "user", c.User, "method", c.Method, "to", Mask(c.Method, c.Target))
		return &Refusal{Message: s.words(ctx, c).T("notify.refusal.capped"), Retry: refused.Retry}
	case err != nil:
		return err
	}
	code := accounts.NewCode()
	start := time.Now()
	err = s.deliver(ctx, c, code)
	s.cfg.OnDelivered(c.Method, time.Since(start))
	if err != nil {
		allowed.GiveBack(ctx) // nothing was sent: the user can retry
		s.cfg.OnEvent("delivery_failed_" + c.Method)
		s.cfg.Logger.Error("could not send a verification code", "method", c.Method, "to", Mask(c.Method, c.Target), "error", err)
		return ErrDeliveryFailed
	}
	sent := accounts.SentCode{User: c.User, Flow: c.Challenge, Purpose: c.Purpose, Method: c.Method, Target: c.Target, Sent: s.cfg.Now().UTC()}
	if err := accounts.PutSentCode(ctx, s.backend, s.ring, s.cfg.Realm, sent, code, s.cfg.Lifetime); err != nil {
		return err
	}
	s.cfg.OnEvent("code_sent_" + c.Method)
	s.cfg.Logger.Info("verification code sent", "realm", s.cfg.Realm, "user", c.User, "method", c.Method, "to", Mask(c.Method, c.Target))
	return nil
}

// words are the language to write to c's user in: the page's, else the
// user's own, else the realm's default.
func (s *Sender) words(ctx context.Context, c Code) *locale.Words {
	if c.Words != nil {
		return c.Words
	}
	lang := ""
	if u, err := accounts.GetUser(ctx, s.backend, s.cfg.Realm, c.User); err == nil {
		lang = u.Lang()
	}
	return s.cfg.Catalog.Choose(lang, "", s.cfg.Language)
}

func (s *Sender) deliver(ctx context.Context, c Code, code string) error {
	msg := notify.CodeMessage{Words: s.words(ctx, c), Org: s.cfg.Org, Code: code, Lifetime: s.cfg.Lifetime, Purpose: purposeWords[c.Purpose]}
	switch {
	case c.Method == policy.MethodEmail && s.cfg.Email != nil:
		m := notify.CodeEmail(msg)
		m.To = c.Target
		return s.cfg.Email.SendEmail(ctx, m)
	case c.Method == policy.MethodSMS && s.cfg.SMS != nil:
		return s.cfg.SMS.SendSMS(ctx, notify.SMS{To: c.Target, Text: notify.CodeSMS(msg)})
	}
	return fmt.Errorf("no sender for %q codes", c.Method)
}

var purposeWords = map[string]notify.Purpose{
	Login: notify.PurposeLogin, Enroll: notify.PurposeEnroll, Admin: notify.PurposeAdmin, Unlock: notify.PurposeUnlock,
}

// Take reports whether code is the one sent for the challenge and method
// to user for purpose and, when it is, spends it: of concurrent right
// answers exactly one succeeds. It returns where the code went.
func (s *Sender) Take(ctx context.Context, c Code, code string) (target string, ok bool, err error) {
	target, ok, err = accounts.TakeSentCode(ctx, s.backend, s.ring, s.cfg.Realm, c.Challenge, c.User, c.Method, c.Purpose, code)
	switch {
	case errors.Is(err, accounts.ErrNoCode):
		err = verify.ErrExpired
	case errors.Is(err, accounts.ErrCodeSpent):
		err = verify.ErrReplay
	}
	return target, ok, err
}

// Last returns when a code was last sent for the challenge and method, and
// where to; zero when none is outstanding.
func (s *Sender) Last(ctx context.Context, challenge, method string) (time.Time, string, error) {
	c, err := accounts.LastSent(ctx, s.backend, s.cfg.Realm, challenge, method)
	if err != nil || c == nil {
		return time.Time{}, "", err
	}
	return c.Sent, c.Target, nil
}

// Mask shows enough of an address for its owner to recognise it.
func Mask(method, target string) string {
	if method == policy.MethodSMS {
		return notify.MaskPhone(target)
	}
	if strings.Contains(target, "@") {
		return notify.MaskEmail(target)
	}
	return target
}
