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

func newSES(t *testing.T, peer *testpeer.SESPeer, cfg notify.SESConfig) *notify.SES {
	t.Helper()
	cfg.Endpoint = peer.Endpoint()
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.From == "" {
		cfg.From = "Acme Corp <no-reply@acme.example>"
	}
	ses, err := notify.NewSES(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewSES: %v", err)
	}
	return ses
}

func TestSESDeliversThroughEmulator(t *testing.T) {
	t.Parallel()
	peer := testpeer.SES(t)

	t.Run("code email", func(t *testing.T) {
		peer.Clear()
		ses := newSES(t, peer, notify.SESConfig{})
		m := notify.CodeEmail(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute})
		m.To = "alice@acme.example"
		if err := ses.SendEmail(context.Background(), m); err != nil {
			t.Fatalf("SendEmail: %v", err)
		}
		emails := peer.Emails()
		if len(emails) != 1 {
			t.Fatalf("emulator holds %d emails, want 1", len(emails))
		}
		got := emails[0]
		if len(got.To) != 1 || got.To[0] != "alice@acme.example" {
			t.Errorf("To = %q, want [alice@acme.example]", got.To)
		}
		if got.From != "\"Acme Corp\" <no-reply@acme.example>" {
			t.Errorf("From = %q", got.From)
		}
		if !strings.Contains(got.Subject, "493817") || got.Subject != m.Subject {
			t.Errorf("Subject = %q, want %q (with the code)", got.Subject, m.Subject)
		}
		if got.Text != m.Text || !strings.Contains(got.Text, "493817") {
			t.Errorf("text body differs from what was sent:\n%s", got.Text)
		}
		if got.HTML != m.HTML || !strings.Contains(got.HTML, "493817") {
			t.Errorf("HTML body differs from what was sent:\n%s", got.HTML)
		}
	})

	t.Run("configuration set and text only", func(t *testing.T) {
		peer.Clear()
		ses := newSES(t, peer, notify.SESConfig{ConfigurationSet: "caddy2fa-events", From: "no-reply@acme.example"})
		err := ses.SendEmail(context.Background(), notify.Email{To: "Bob Example <bob@acme.example>", Subject: "Grüße", Text: "plain only"})
		if err != nil {
			t.Fatalf("SendEmail: %v", err)
		}
		emails := peer.Emails()
		if len(emails) != 1 {
			t.Fatalf("emulator holds %d emails, want 1", len(emails))
		}
		if e := emails[0]; e.From != "no-reply@acme.example" || e.Subject != "Grüße" || e.Text != "plain only" || e.HTML != "" {
			t.Errorf("stored %+v", e)
		}
	})

	t.Run("rate limit spaces bulk sends", func(t *testing.T) {
		peer.Clear()
		ses := newSES(t, peer, notify.SESConfig{Rate: 20})
		start := time.Now()
		const n = 30 // 20 at once (a second's worth), then 10 at 20 per second
		for i := range n {
			m := notify.Email{To: "carol@acme.example", Subject: "bulk", Text: strings.Repeat("x", i+1)}
			if err := ses.SendEmail(context.Background(), m); err != nil {
				t.Fatalf("SendEmail %d: %v", i, err)
			}
		}
		if elapsed := time.Since(start); elapsed < 400*time.Millisecond {
			t.Errorf("%d sends at 20/s took %v, want the limiter to hold them to about 0.5s", n, elapsed)
		}
		if got := len(peer.Emails()); got != n {
			t.Errorf("emulator holds %d emails, want %d", got, n)
		}
	})
}

func TestDeliveryErrorDoesNotRevealRecipient(t *testing.T) {
	t.Parallel()
	peer := testpeer.SES(t)
	const timeout = 1500 * time.Millisecond
	ses := newSES(t, peer, notify.SESConfig{Timeout: timeout})
	peer.Stop() // SES unreachable

	m := notify.CodeEmail(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute})
	m.To = "alice.secret@acme.example"
	start := time.Now()
	err := ses.SendEmail(context.Background(), m)
	elapsed := time.Since(start)
	if !errors.Is(err, notify.ErrDelivery) {
		t.Fatalf("SendEmail to a stopped SES = %v, want an error wrapping ErrDelivery", err)
	}
	t.Logf("error: %v", err)
	if elapsed > timeout+time.Second {
		t.Errorf("SendEmail took %v with a %v timeout", elapsed, timeout)
	}
	for _, private := range []string{"alice.secret", "493817"} {
		if strings.Contains(err.Error(), private) {
			t.Errorf("error %q reveals %q", err, private)
		}
	}
	if !strings.Contains(err.Error(), "a***@acme.example") {
		t.Errorf("error %q does not name the masked recipient", err)
	}
}

func TestSESRejectsMalformedInputWithoutCallingAWS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cfg := range []notify.SESConfig{
		{Region: "us-east-1", From: "not an address"},
		{Region: "us-east-1", From: ""},
		{Region: "us-east-1", From: "a@b.example", Endpoint: "127.0.0.1:8005"},
		{Region: "us-east-1", From: "a@b.example", Rate: -1},
		{Region: "us-east-1", From: "a@b.example", Timeout: -time.Second},
	} {
		if _, err := notify.NewSES(ctx, cfg); err == nil {
			t.Errorf("NewSES(%+v) accepted it", cfg)
		}
	}
	// The endpoint is never reached: the input is refused first.
	ses, err := notify.NewSES(ctx, notify.SESConfig{Region: "us-east-1", From: "a@b.example", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []notify.Email{
		{To: "nobody", Subject: "s", Text: "t"},
		{To: "a@b.example", Subject: "", Text: "t"},
		{To: "a@b.example", Subject: "s"},
	} {
		if err := ses.SendEmail(ctx, m); !errors.Is(err, notify.ErrDelivery) {
			t.Errorf("SendEmail(%+v) = %v, want ErrDelivery", m, err)
		}
	}
}
