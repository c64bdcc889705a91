package sentcode_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
)

type sent struct {
	mu     sync.Mutex
	emails []notify.Email
	texts  []notify.SMS
}

func (s *sent) SendEmail(_ context.Context, m notify.Email) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails = append(s.emails, m)
	return nil
}

func (s *sent) SendSMS(_ context.Context, m notify.SMS) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.texts = append(s.texts, m)
	return nil
}

func newSender(t *testing.T, lang string) (*sentcode.Sender, *sent, store.Backend) {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ring, err := keyring.Parse(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	out := &sent{}
	return sentcode.New(b, ring, sentcode.Config{Realm: "default", Org: "Acme", Email: out, SMS: out, Language: lang}), out, b
}

// A code asked for from a page is in the page's language; one without a
// page in the user's own, else the realm's; a refusal in the same words.
func TestCodesSpeakTheirReadersLanguage(t *testing.T) {
	ctx := context.Background()
	s, out, b := newSender(t, "es")
	if _, err := accounts.UpdateUser(ctx, b, "default", "alice", func(u *accounts.User) error { u.SeenLanguage = "fr"; return nil }); err != nil {
		t.Fatal(err)
	}
	code := func(user, method, target string, w *locale.Words) sentcode.Code {
		return sentcode.Code{Challenge: "c-" + user + method, User: user, Method: method, Target: target, Purpose: sentcode.Login, Words: w}
	}
	for _, c := range []sentcode.Code{
		code("alice", policy.MethodEmail, "alice@acme.example", locale.Default().Words("de")),
		code("alice", policy.MethodSMS, "+15555550101", nil),
		code("bob", policy.MethodEmail, "bob@acme.example", nil),
	} {
		if err := s.Send(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.emails) != 2 || len(out.texts) != 1 {
		t.Fatalf("sent %d emails and %d texts", len(out.emails), len(out.texts))
	}
	if m := out.emails[0]; !strings.Contains(m.Subject, "Bestätigungscode für Acme") || !strings.Contains(m.Text, "um sich anzumelden") {
		t.Errorf("the page's German was not used:\n%s\n%s", m.Subject, m.Text)
	}
	if sms := out.texts[0].Text; !strings.HasPrefix(sms, "Code Acme : ") {
		t.Errorf("alice's last page was French, the text is not: %q", sms)
	}
	if m := out.emails[1]; !strings.Contains(m.Subject, "es su código de verificación de Acme") {
		t.Errorf("bob has no language of his own: the realm's Spanish, not %q", m.Subject)
	}
	var refused *sentcode.Refusal
	err := s.Send(ctx, code("alice", policy.MethodEmail, "alice@acme.example", locale.Default().Words("de")))
	if !errors.As(err, &refused) || !strings.HasPrefix(refused.Message, "Gerade eben wurde ein Code gesendet.") {
		t.Errorf("a resend at once: %v, want the German cooldown", err)
	}
}
