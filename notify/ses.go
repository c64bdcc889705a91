package notify

import (
	"context"
	"fmt"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"golang.org/x/time/rate"
)

// SESConfig configures delivery through Amazon SES (API v2).
type SESConfig struct {
	// Region is the AWS region, e.g. "eu-west-1"; empty means the SDK's
	// (AWS_REGION, shared config).
	Region string
	// From is the sender, a verified SES identity: "no-reply@acme.example"
	// or "Acme <no-reply@acme.example>".
	From string
	// ConfigurationSet is an optional SES configuration set (event
	// publishing, suppression lists).
	ConfigurationSet string
	// Endpoint optionally overrides the AWS endpoint, e.g. a VPC endpoint or
	// an emulator at "http://127.0.0.1:8005".
	Endpoint string
	// Rate is the most messages per second this process sends; default 14,
	// the usual SES account rate outside the sandbox. Bulk notices wait for
	// their turn instead of being throttled.
	Rate float64
	// Timeout bounds one message, retries included; default 10s.
	Timeout time.Duration
}

const defaultSESRate = 14

// SES sends email through Amazon SES. Credentials come from the AWS SDK's
// default chain. Throttled and transient failures are retried by the SDK
// with backoff within the timeout. Safe for concurrent use.
type SES struct {
	client    *sesv2.Client
	from      string
	configSet string
	limiter   *rate.Limiter
	timeout   time.Duration
}

// NewSES checks cfg and builds an SES client. It does not contact AWS.
func NewSES(ctx context.Context, cfg SESConfig) (*SES, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SES: sender %q is not an email address: %w", cfg.From, err)
	}
	if err := checkEndpoint("SES", cfg.Endpoint); err != nil {
		return nil, err
	}
	perSecond := cfg.Rate
	switch {
	case perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0):
		return nil, fmt.Errorf("notify: SES: rate %v is not a positive number of messages per second", cfg.Rate)
	case perSecond == 0:
		perSecond = defaultSESRate
	}
	timeout, err := sendTimeout("SES", cfg.Timeout)
	if err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(ctx, "SES", cfg.Region)
	if err != nil {
		return nil, err
	}
	client := sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	// A second's worth of messages may go at once; SES measures its
	// maximum send rate per second.
	burst := max(1, int(math.Ceil(perSecond)))
	return &SES{
		client:    client,
		from:      formatAddress(from),
		configSet: cfg.ConfigurationSet,
		limiter:   rate.NewLimiter(rate.Limit(perSecond), burst),
		timeout:   timeout,
	}, nil
}

// SendEmail sends m as a simple (SES-built MIME) message in UTF-8. Any
// failure wraps ErrDelivery and names the recipient only masked.
func (s *SES) SendEmail(ctx context.Context, m Email) error {
	masked := MaskEmail(m.To)
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return &deliveryError{msg: fmt.Sprintf("%v: SES to %s: not an email address", ErrDelivery, masked)}
	}
	if m.Subject == "" || (m.Text == "" && m.HTML == "") {
		return &deliveryError{msg: fmt.Sprintf("%v: SES to %s: empty subject or body", ErrDelivery, masked)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.limiter.Wait(ctx); err != nil {
		return newDeliveryError("SES", masked, fmt.Errorf("waiting for the send rate limit: %w", err))
	}

	body := &types.Body{}
	if m.Text != "" {
		body.Text = utf8Content(m.Text)
	}
	if m.HTML != "" {
		body.Html = utf8Content(m.HTML)
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.from),
		Destination:      &types.Destination{ToAddresses: []string{formatAddress(to)}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: utf8Content(oneLine(m.Subject)),
			Body:    body,
		}},
	}
	if s.configSet != "" {
		in.ConfigurationSetName = aws.String(s.configSet)
	}
	if _, err := s.client.SendEmail(ctx, in); err != nil {
		return newDeliveryError("SES", masked, err,
			redaction{m.To, masked}, redaction{to.Address, masked}, textRedaction(m.Subject, "[subject]"))
	}
	return nil
}

func utf8Content(s string) *types.Content {
	return &types.Content{Data: aws.String(s), Charset: aws.String("UTF-8")}
}

// formatAddress writes a as "name <address>" (the name RFC 2047-encoded
// when not ASCII), or as the bare address when it has no name.
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

// oneLine keeps a header value on one line: a line break in a subject would
// otherwise start a new header.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var _ EmailSender = (*SES)(nil)
