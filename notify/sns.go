package notify

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// SNSConfig configures SMS delivery through Amazon SNS.
type SNSConfig struct {
	// Region is the AWS region, e.g. "us-east-1"; empty means the SDK's
	// (AWS_REGION, shared config).
	Region string
	// SenderID is the optional alphanumeric sender shown on phones in
	// countries that support it: 1 to 11 letters and digits, at least one
	// letter.
	SenderID string
	// Endpoint optionally overrides the AWS endpoint, e.g. an emulator.
	Endpoint string
	// MaxPrice is the most, in US dollars, one message may cost (e.g.
	// "0.50"); SNS does not send messages that would cost more. Empty: the
	// account's limit only.
	MaxPrice string
	// Timeout bounds one message, retries included; default 10s.
	Timeout time.Duration
}

// SNS sends text messages through Amazon SNS as transactional SMS (the
// route for one-time codes). Credentials come from the AWS SDK's default
// chain. Safe for concurrent use.
type SNS struct {
	client     *sns.Client
	attributes map[string]types.MessageAttributeValue
	timeout    time.Duration
}

var (
	senderIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,11}$`)
	hasLetter       = regexp.MustCompile(`[A-Za-z]`)
	e164Pattern     = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// NewSNS checks cfg and builds an SNS client. It does not contact AWS.
func NewSNS(ctx context.Context, cfg SNSConfig) (*SNS, error) {
	if cfg.SenderID != "" && (!senderIDPattern.MatchString(cfg.SenderID) || !hasLetter.MatchString(cfg.SenderID)) {
		return nil, fmt.Errorf("notify: SNS: sender ID %q must be 1 to 11 letters and digits, with at least one letter", cfg.SenderID)
	}
	maxPrice := strings.TrimSpace(cfg.MaxPrice)
	if maxPrice != "" {
		if price, err := strconv.ParseFloat(maxPrice, 64); err != nil || !(price > 0) {
			return nil, fmt.Errorf("notify: SNS: max price %q is not a positive amount of US dollars such as 0.50", cfg.MaxPrice)
		}
	}
	if err := checkEndpoint("SNS", cfg.Endpoint); err != nil {
		return nil, err
	}
	timeout, err := sendTimeout("SNS", cfg.Timeout)
	if err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(ctx, "SNS", cfg.Region)
	if err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})

	// Transactional: SNS routes these for reliability rather than cost, as
	// codes are useless once late.
	attributes := map[string]types.MessageAttributeValue{
		"AWS.SNS.SMS.SMSType": stringAttribute("Transactional"),
	}
	if cfg.SenderID != "" {
		attributes["AWS.SNS.SMS.SenderID"] = stringAttribute(cfg.SenderID)
	}
	if maxPrice != "" {
		attributes["AWS.SNS.SMS.MaxPrice"] = stringAttribute(maxPrice)
	}
	return &SNS{client: client, attributes: attributes, timeout: timeout}, nil
}

func stringAttribute(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// SendSMS publishes m directly to its phone number. Any failure wraps
// ErrDelivery and names the number only masked.
func (s *SNS) SendSMS(ctx context.Context, m SMS) error {
	masked := MaskPhone(m.To)
	if !e164Pattern.MatchString(m.To) {
		return &deliveryError{msg: fmt.Sprintf("%v: SNS to %s: not an E.164 phone number", ErrDelivery, masked)}
	}
	if strings.TrimSpace(m.Text) == "" {
		return &deliveryError{msg: fmt.Sprintf("%v: SNS to %s: empty message", ErrDelivery, masked)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.client.Publish(ctx, &sns.PublishInput{
		PhoneNumber:       aws.String(m.To),
		Message:           aws.String(m.Text),
		MessageAttributes: s.attributes,
	})
	if err != nil {
		return newDeliveryError("SNS", masked, err,
			redaction{m.To, masked}, redaction{m.To[1:], masked}, textRedaction(m.Text, "[message]"))
	}
	return nil
}

var _ SMSSender = (*SNS)(nil)
