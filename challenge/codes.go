package challenge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Codes sent by email or SMS: six digits from crypto/rand, stored only as
// a keyed hash bound to the user, the challenge, the purpose, the method
// and the address it went to; single use; replaced by a resend.

// Purposes a code can serve; a code for one never works for another.
const (
	PurposeLogin  = "login"
	PurposeEnroll = "enroll"
	PurposeAdmin  = "admin"
	PurposeUnlock = "unlock"
)

type pendingCode struct {
	Hash    string    `json:"hash"`
	User    string    `json:"user"`
	Flow    string    `json:"flow"`
	Purpose string    `json:"purpose"`
	Method  string    `json:"method"`
	Target  string    `json:"target"`
	Sent    time.Time `json:"sent"`
}

func (s *Service) codeKey(flowID, method string) store.Key {
	return store.Key{Bucket: "codes/" + s.cfg.Realm, ID: flowID + "/" + method}
}

func (s *Service) codeMAC(code string, c *pendingCode) []byte {
	return s.ring.MAC("otp", s.cfg.Realm, c.User, c.Flow, c.Purpose, c.Method, c.Target, code)
}

func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// sendRefusal says why a code was not sent, in words for the user.
type sendRefusal struct {
	msg string
	// retry is when sending may work again (zero: not time-bound).
	retry time.Time
}

func (e *sendRefusal) Error() string { return e.msg }

// errDeliveryFailed: the provider did not take the message.
var errDeliveryFailed = errors.New("we couldn't send the code")

// sendCode delivers a fresh code for the flow and method to target,
// replacing any earlier one, within the cooldown and the send caps.
func (s *Service) sendCode(ctx context.Context, f *flow, user, method, target, purpose string) error {
	now := s.cfg.Now()
	cooldown := s.cfg.EmailCooldown
	if method == policy.MethodSMS {
		cooldown = s.cfg.SMSCooldown
	}
	coolKey := store.Key{Bucket: "send-cooldown/" + s.cfg.Realm, ID: user + "/" + method}
	ok, err := s.backend.PutIfAbsent(ctx, coolKey, []byte(now.UTC().Format(time.RFC3339Nano)), cooldown)
	if err != nil {
		return err
	}
	if !ok {
		at := now.Add(cooldown)
		if raw, err := s.backend.Get(ctx, coolKey); err == nil {
			if t, err := time.Parse(time.RFC3339Nano, string(raw)); err == nil {
				at = t.Add(cooldown)
			}
		}
		return &sendRefusal{msg: "A code was sent moments ago. Wait a little before asking for another.", retry: at}
	}
	caps, err := s.takeSendCaps(ctx, user, method, target)
	if err != nil {
		s.backend.Delete(ctx, coolKey)
		return err
	}
	code := newCode()
	p := &pendingCode{User: user, Flow: f.ID, Purpose: purpose, Method: method, Target: target, Sent: now.UTC()}
	p.Hash = base64.RawStdEncoding.EncodeToString(s.codeMAC(code, p))
	if err := s.deliver(ctx, method, target, code, purpose); err != nil {
		// Nothing was sent: give the send back so the user can retry.
		caps.giveBack(ctx)
		s.backend.Delete(ctx, coolKey)
		s.event("delivery_failed")
		s.cfg.Logger.Error("could not send a verification code", "method", method, "to", mask(method, target), "error", err)
		return errDeliveryFailed
	}
	if err := store.PutJSON(ctx, s.backend, s.codeKey(f.ID, method), p, s.cfg.CodeLifetime); err != nil {
		return err
	}
	s.event("code_sent_" + method)
	s.cfg.Logger.Info("verification code sent", "realm", s.cfg.Realm, "user", user, "method", method, "to", mask(method, target))
	return nil
}

func (s *Service) deliver(ctx context.Context, method, target, code, purpose string) error {
	msg := notify.CodeMessage{Org: s.cfg.Issuer, Code: code, Lifetime: s.cfg.CodeLifetime, Purpose: notifyPurpose(purpose)}
	switch method {
	case policy.MethodEmail:
		if s.cfg.EmailSender == nil {
			return errors.New("no email sender configured")
		}
		m := notify.CodeEmail(msg)
		m.To = target
		return s.cfg.EmailSender.SendEmail(ctx, m)
	case policy.MethodSMS:
		if s.cfg.SMSSender == nil {
			return errors.New("no SMS sender configured")
		}
		return s.cfg.SMSSender.SendSMS(ctx, notify.SMS{To: target, Text: notify.CodeSMS(msg)})
	}
	return fmt.Errorf("method %q sends no codes", method)
}

func notifyPurpose(p string) notify.Purpose {
	switch p {
	case PurposeEnroll:
		return notify.PurposeEnroll
	case PurposeAdmin:
		return notify.PurposeAdmin
	case PurposeUnlock:
		return notify.PurposeUnlock
	}
	return notify.PurposeLogin
}

// sendCaps are the counters one send took, to give back if it failed.
type sendCaps struct {
	s    *Service
	keys []store.Key
}

func (c sendCaps) giveBack(ctx context.Context) {
	for _, k := range c.keys {
		c.s.backend.Incr(ctx, k, -1, time.Hour)
	}
}

// takeSendCaps counts a send against the per-user (and, for SMS, per-day
// and per-number) caps, refusing it when one is reached.
func (s *Service) takeSendCaps(ctx context.Context, user, method, target string) (sendCaps, error) {
	type capRule struct {
		key    store.Key
		limit  int
		window time.Duration
	}
	var rules []capRule
	switch method {
	case policy.MethodEmail:
		rules = []capRule{{store.Key{Bucket: "sends-hour/" + s.cfg.Realm, ID: "email/" + user}, s.cfg.EmailPerHour, time.Hour}}
	case policy.MethodSMS:
		rules = []capRule{
			{store.Key{Bucket: "sends-hour/" + s.cfg.Realm, ID: "sms/" + user}, s.cfg.SMSPerHour, time.Hour},
			{store.Key{Bucket: "sends-day/" + s.cfg.Realm, ID: "sms/" + user}, s.cfg.SMSPerDay, 24 * time.Hour},
			// Per number across users and realms: one number cannot be
			// pumped through many accounts.
			{store.Key{Bucket: "sends-day-phone", ID: target}, s.cfg.SMSPerDay, 24 * time.Hour},
		}
	}
	taken := sendCaps{s: s}
	for _, r := range rules {
		n, resets, err := s.backend.Incr(ctx, r.key, 1, r.window)
		if err != nil {
			taken.giveBack(ctx)
			return sendCaps{}, err
		}
		taken.keys = append(taken.keys, r.key)
		if n > int64(r.limit) {
			taken.giveBack(ctx)
			s.event("send_capped_" + method)
			s.cfg.Logger.Warn("code send refused: cap reached", "realm", s.cfg.Realm, "user", user, "method", method, "to", mask(method, target))
			return sendCaps{}, &sendRefusal{
				msg:   "You've asked for too many codes. Try again later, or use another method.",
				retry: resets,
			}
		}
	}
	return taken, nil
}

// checkSentCode verifies a code sent for the flow and method, consuming it
// on success (exactly once, even under concurrent submissions).
func (s *Service) checkSentCode(ctx context.Context, f *flow, user, method, purpose, code string) (target string, ok bool, err error) {
	k := s.codeKey(f.ID, method)
	var p pendingCode
	if err := store.GetJSON(ctx, s.backend, k, &p); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		return "", false, err
	}
	want, err := base64.RawStdEncoding.DecodeString(p.Hash)
	if err != nil || p.User != user || p.Flow != f.ID || p.Purpose != purpose || p.Method != method {
		return "", false, nil
	}
	if !s.ring.VerifyMAC(want, "otp", s.cfg.Realm, p.User, p.Flow, p.Purpose, p.Method, p.Target, code) {
		return "", false, nil
	}
	if _, err := s.backend.Take(ctx, k); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil // used by a concurrent submission
		}
		return "", false, err
	}
	return p.Target, true, nil
}

// answerSend answers a "send a code" form: back to the page (so a reload
// does not send again), or the page again with why nothing was sent.
// otherwise is what to do when delivery failed ("use another method").
func (s *Service) answerSend(w http.ResponseWriter, r *http.Request, err error, back string, render func(int, string), otherwise string) error {
	var refusal *sendRefusal
	switch {
	case err == nil:
		s.redirect(w, r, back)
	case errors.As(err, &refusal):
		msg := refusal.msg
		if !refusal.retry.IsZero() && refusal.retry.Sub(s.cfg.Now()) > time.Minute {
			msg += " You can ask again at " + refusal.retry.UTC().Format("15:04") + " UTC."
		}
		render(http.StatusTooManyRequests, msg)
	case errors.Is(err, errDeliveryFailed):
		render(http.StatusBadGateway, "We couldn't send the code. Try again in a moment"+otherwise+".")
	default:
		return err
	}
	return nil
}

// lastSent returns when a code was last sent for the flow and method.
func (s *Service) lastSent(ctx context.Context, f *flow, method string) (time.Time, string, error) {
	var p pendingCode
	err := store.GetJSON(ctx, s.backend, s.codeKey(f.ID, method), &p)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, "", nil
	}
	return p.Sent, p.Target, err
}

func mask(method, target string) string {
	if method == policy.MethodSMS {
		return notify.MaskPhone(target)
	}
	if strings.Contains(target, "@") {
		return notify.MaskEmail(target)
	}
	return target
}
