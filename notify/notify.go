// Package notify delivers what caddy2fa sends people: codes and notices by
// email (Amazon SES v2, or a file outbox) and codes by SMS (Amazon SNS, or
// the outbox), from message templates.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Email is one message to one address.
type Email struct {
	To      string
	Subject string
	Text    string // plain-text body
	HTML    string // HTML body; optional
}

// SMS is one text message to one E.164 number.
type SMS struct {
	To   string
	Text string
}

// EmailSender delivers email.
type EmailSender interface {
	SendEmail(ctx context.Context, m Email) error
}

// SMSSender delivers text messages.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// ErrDelivery wraps every failure to hand a message to the provider
// (refused, throttled past retries, timed out). The message was not sent;
// callers tell the user to try again or use another method.
var ErrDelivery = errors.New("notify: message not delivered")

// SendNotice mails a notice to a person, without waiting on the caller's
// request past the provider's answer (at most 10 seconds): a notice tells
// of something that already happened, so a failure is logged (what names
// it: "the reset notice") and not returned.
func SendNotice(ctx context.Context, s EmailSender, m Email, log *slog.Logger, what string) {
	if s == nil || m.To == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.SendEmail(ctx, m); err != nil {
		log.Warn("could not send "+what, "to", MaskEmail(m.To), "error", err)
	}
}
