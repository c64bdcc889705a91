package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
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
func (s *Service) sendCode(ctx context.Context, f *accounts.Flow, user, method, target, purpose string) error {
	allowed, err := accounts.TakeSend(ctx, s.backend, s.cfg.Realm, user, method, target, s.sendLimits(), s.cfg.Now())
	var refused *accounts.SendRefused
	switch {
	case errors.As(err, &refused) && refused.Cooldown:
		return &sendRefusal{msg: "A code was sent moments ago. Wait a little before asking for another.", retry: refused.Retry}
	case errors.As(err, &refused):
		s.event("send_capped_" + method)
		s.cfg.Logger.Warn("code send refused: cap reached", "realm", s.cfg.Realm, "user", user, "method", method, "to", mask(method, target))
		return &sendRefusal{msg: "You've asked for too many codes. Try again later, or use another method.", retry: refused.Retry}
	case err != nil:
		return err
	}
	code := accounts.NewCode()
	if err := s.deliver(ctx, method, target, code, purpose); err != nil {
		allowed.GiveBack(ctx) // nothing was sent: the user can retry
		s.event("delivery_failed")
		s.cfg.Logger.Error("could not send a verification code", "method", method, "to", mask(method, target), "error", err)
		return errDeliveryFailed
	}
	sent := accounts.SentCode{User: user, Flow: f.ID, Purpose: purpose, Method: method, Target: target, Sent: s.cfg.Now().UTC()}
	if err := accounts.PutSentCode(ctx, s.backend, s.ring, s.cfg.Realm, sent, code, s.cfg.CodeLifetime); err != nil {
		return err
	}
	s.event("code_sent_" + method)
	s.cfg.Logger.Info("verification code sent", "realm", s.cfg.Realm, "user", user, "method", method, "to", mask(method, target))
	return nil
}

func (s *Service) sendLimits() accounts.SendLimits {
	return accounts.SendLimits{EmailCooldown: s.cfg.EmailCooldown, SMSCooldown: s.cfg.SMSCooldown, EmailPerHour: s.cfg.EmailPerHour, SMSPerHour: s.cfg.SMSPerHour, SMSPerDay: s.cfg.SMSPerDay}
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

// checkSentCode verifies a code sent for the flow and method, consuming it
// on success (exactly once, even under concurrent submissions).
func (s *Service) checkSentCode(ctx context.Context, f *accounts.Flow, user, method, purpose, code string) (target string, ok bool, err error) {
	return accounts.TakeSentCode(ctx, s.backend, s.ring, s.cfg.Realm, f.ID, user, method, purpose, code)
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
func (s *Service) lastSent(ctx context.Context, f *accounts.Flow, method string) (time.Time, string, error) {
	c, err := accounts.LastSent(ctx, s.backend, s.cfg.Realm, f.ID, method)
	if err != nil || c == nil {
		return time.Time{}, "", err
	}
	return c.Sent, c.Target, nil
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
