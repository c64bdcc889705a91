package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
)

const (
	defaultSendTimeout = 10 * time.Second
	// Attempts per message, throttling and transient failures included.
	sendMaxAttempts = 5
	// Caps the SDK's exponential backoff (20 s by default) so that the
	// retries of one message fit in the send timeout a person waits for.
	sendMaxBackoff = 2 * time.Second
)

// loadAWSConfig reads the SDK's default configuration: credentials from the
// default chain (environment, shared config files, container or instance
// role) and the region from region or, when empty, that chain.
func loadAWSConfig(ctx context.Context, service, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = sendMaxAttempts
				o.MaxBackoff = sendMaxBackoff
				// No retry quota: shared by all of a client's sends, it is
				// spent by an outage's first few failed messages and leaves
				// later ones, and the codes sent just after, one attempt
				// until dozens succeed. Sends are bounded without it: a
				// send rate, per-user cooldowns and caps, one message at a
				// time per queue worker.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("notify: %s: loading AWS configuration: %w", service, err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("notify: %s: no AWS region: set one in the configuration or AWS_REGION", service)
	}
	return cfg, nil
}

// checkEndpoint validates an endpoint override (an emulator, a VPC
// endpoint); empty means the AWS default for the region.
func checkEndpoint(service, endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify: %s: endpoint %q is not an http(s) URL", service, endpoint)
	}
	return nil
}

func sendTimeout(service string, d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("notify: %s: negative timeout %v", service, d)
	case d == 0:
		return defaultSendTimeout, nil
	}
	return d, nil
}

// deliveryError is what senders return: its text is safe to log (the
// recipient masked, no code or message text), and it matches ErrDelivery
// and, when the caller's context ended, the context's error.
type deliveryError struct {
	msg    string
	ctxErr error
}

func (e *deliveryError) Error() string { return e.msg }

func (e *deliveryError) Unwrap() []error {
	if e.ctxErr != nil {
		return []error{ErrDelivery, e.ctxErr}
	}
	return []error{ErrDelivery}
}

// redaction replaces a private string (a recipient, a message text)
// wherever a provider's message repeats it; real SES and SNS echo rejected
// addresses and numbers.
type redaction struct{ private, shown string }

// textRedaction redacts a message text (a subject, an SMS) when a provider
// repeats it whole. Short texts are left alone: replacing every "hi" would
// garble the provider's message and hide nothing.
func textRedaction(text, shown string) redaction {
	if len(text) < 16 {
		return redaction{}
	}
	return redaction{text, shown}
}

// newDeliveryError describes a failed send by service to maskedTo. The
// provider's message is kept (it says what to fix) with every redaction
// applied. The SDK's error itself is not wrapped: its text can hold the
// recipient.
func newDeliveryError(service, maskedTo string, err error, redact ...redaction) error {
	detail := providerMessage(err)
	for _, r := range redact {
		if r.private == "" {
			continue
		}
		detail = regexp.MustCompile("(?i)"+regexp.QuoteMeta(r.private)).ReplaceAllLiteralString(detail, r.shown)
	}
	e := &deliveryError{msg: fmt.Sprintf("%v: %s to %s: %s", ErrDelivery, service, maskedTo, detail)}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.ctxErr = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		e.ctxErr = context.Canceled
	}
	return e
}

// providerMessage prefers the service's own error code and message to the
// SDK's long operation chain.
func providerMessage(err error) string {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err.Error()
	}
	msg := api.ErrorCode()
	if m := api.ErrorMessage(); m != "" {
		msg += ": " + m
	}
	var maxAttempts *retry.MaxAttemptsError
	if errors.As(err, &maxAttempts) {
		msg = fmt.Sprintf("%s (gave up after %d attempts)", msg, maxAttempts.Attempt)
	}
	return msg
}
