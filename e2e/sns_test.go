package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/notify"
)

func TestSNSPublishesTransactionalSMS(t *testing.T) {
	t.Parallel()
	peer := testpeer.SNS(t)
	sns, err := notify.NewSNS(context.Background(), notify.SNSConfig{
		Region: "us-east-1", Endpoint: peer.Endpoint(), SenderID: "AcmeCorp", MaxPrice: "0.50",
	})
	if err != nil {
		t.Fatalf("NewSNS: %v", err)
	}
	text := notify.CodeSMS(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute})
	if err := sns.SendSMS(context.Background(), notify.SMS{To: "+15555550101", Text: text}); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	published := peer.Published()
	if len(published) != 1 {
		t.Fatalf("emulator recorded %d messages, want 1: %+v", len(published), published)
	}
	got := published[0]
	if got.PhoneNumber != "+15555550101" || got.Message != text {
		t.Errorf("published %q to %s, want %q to +15555550101", got.Message, got.PhoneNumber, text)
	}
	want := map[string]string{
		"AWS.SNS.SMS.SMSType":  "Transactional",
		"AWS.SNS.SMS.SenderID": "AcmeCorp",
		"AWS.SNS.SMS.MaxPrice": "0.50",
	}
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, got.Attributes[k], v, got.Attributes)
		}
	}

	peer.Clear()
	if n := len(peer.Published()); n != 0 {
		t.Errorf("after Clear the emulator still holds %d messages", n)
	}
}

func TestSMSDeliveryErrorDoesNotRevealNumber(t *testing.T) {
	t.Parallel()
	peer := testpeer.SNS(t)
	const timeout = 1500 * time.Millisecond
	sns, err := notify.NewSNS(context.Background(), notify.SNSConfig{Region: "us-east-1", Endpoint: peer.Endpoint(), Timeout: timeout})
	if err != nil {
		t.Fatalf("NewSNS: %v", err)
	}
	peer.Stop() // SNS unreachable

	start := time.Now()
	err = sns.SendSMS(context.Background(), notify.SMS{To: "+15555554567", Text: "Acme code: 493817."})
	elapsed := time.Since(start)
	if !errors.Is(err, notify.ErrDelivery) {
		t.Fatalf("SendSMS to a stopped SNS = %v, want an error wrapping ErrDelivery", err)
	}
	t.Logf("error: %v", err)
	if elapsed > timeout+time.Second {
		t.Errorf("SendSMS took %v with a %v timeout", elapsed, timeout)
	}
	for _, private := range []string{"5555554567", "493817"} {
		if strings.Contains(err.Error(), private) {
			t.Errorf("error %q reveals %q", err, private)
		}
	}
	if !strings.Contains(err.Error(), "+1******4567") {
		t.Errorf("error %q does not name the masked number", err)
	}
}

func TestSNSRejectsMalformedInputWithoutCallingAWS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cfg := range []notify.SNSConfig{
		{Region: "us-east-1", SenderID: "TwelveChars1"},
		{Region: "us-east-1", SenderID: "123456"},
		{Region: "us-east-1", SenderID: "Acme Corp"},
		{Region: "us-east-1", MaxPrice: "free"},
		{Region: "us-east-1", MaxPrice: "-1"},
		{Region: "us-east-1", Endpoint: "ftp://example.com"},
	} {
		if _, err := notify.NewSNS(ctx, cfg); err == nil {
			t.Errorf("NewSNS(%+v) accepted it", cfg)
		}
	}
	sns, err := notify.NewSNS(ctx, notify.SNSConfig{Region: "us-east-1", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []notify.SMS{
		{To: "5555550101", Text: "t"},
		{To: "+1 555 555 0101", Text: "t"},
		{To: "+15555550101", Text: " "},
	} {
		if err := sns.SendSMS(ctx, m); !errors.Is(err, notify.ErrDelivery) {
			t.Errorf("SendSMS(%+v) = %v, want ErrDelivery", m, err)
		}
	}
}
