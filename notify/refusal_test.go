package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/notify"
)

// Real SES and SNS repeat the refused address or number in their error
// messages (the emulators do not refuse these), so these tests answer as
// the services document it.

func TestProviderRefusalDoesNotRevealRecipient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "MessageRejected")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"message":"Email address is not verified. The following identities failed the check in region US-EAST-1: ALICE.SECRET@ACME.EXAMPLE"}`))
	}))
	defer srv.Close()
	ses, err := notify.NewSES(context.Background(), notify.SESConfig{Region: "us-east-1", From: "no-reply@acme.example", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = ses.SendEmail(context.Background(), notify.Email{To: "alice.secret@acme.example", Subject: "493817 is your code", Text: "493817"})
	if !errors.Is(err, notify.ErrDelivery) {
		t.Fatalf("SendEmail = %v, want ErrDelivery", err)
	}
	msg := err.Error()
	t.Logf("error: %v", msg)
	if strings.Contains(strings.ToLower(msg), "alice.secret") {
		t.Errorf("error %q reveals the recipient", msg)
	}
	if !strings.Contains(msg, "MessageRejected") || !strings.Contains(msg, "not verified") {
		t.Errorf("error %q lost the provider's explanation", msg)
	}
}

func TestProviderRefusalDoesNotRevealNumber(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>` +
			`<Code>InvalidParameter</Code><Message>Invalid parameter: PhoneNumber Reason: +15555554567 is not valid to publish</Message>` +
			`</Error><RequestId>1</RequestId></ErrorResponse>`))
	}))
	defer srv.Close()
	sns, err := notify.NewSNS(context.Background(), notify.SNSConfig{Region: "us-east-1", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = sns.SendSMS(context.Background(), notify.SMS{To: "+15555554567", Text: "Acme code: 493817."})
	if !errors.Is(err, notify.ErrDelivery) {
		t.Fatalf("SendSMS = %v, want ErrDelivery", err)
	}
	msg := err.Error()
	t.Logf("error: %v", msg)
	if strings.Contains(msg, "5555554567") {
		t.Errorf("error %q reveals the number", msg)
	}
	if !strings.Contains(msg, "InvalidParameter") || !strings.Contains(msg, "+1******4567") {
		t.Errorf("error %q lost the provider's explanation or the masked number", msg)
	}
}
