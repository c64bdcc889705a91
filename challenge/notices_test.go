package challenge

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

type noticeMailbox struct {
	mu   sync.Mutex
	sent []notify.Email
}

func (m *noticeMailbox) SendEmail(_ context.Context, e notify.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return nil
}

// A notice is in the language its user chose; a user who chose none gets
// the realm's.
func TestNoticesSpeakTheUsersLanguage(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	box := &noticeMailbox{}
	n := NewNotices(b, NoticesConfig{Realm: "default", Org: "Acme Corp", Email: box, Language: "de"})
	french := &accounts.User{ID: "alice", Email: "alice@acme.example", Language: "fr", SeenLanguage: "es"}
	n.enrolled(ctx, french, policy.MethodTOTP)
	n.enrolled(ctx, &accounts.User{ID: "bob", Email: "bob@acme.example"}, policy.MethodTOTP)
	if len(box.sent) != 2 {
		t.Fatalf("%d notices sent, want 2", len(box.sent))
	}
	fr := box.sent[0]
	if fr.Subject != "Méthode à deux facteurs ajoutée à votre compte Acme Corp" {
		t.Errorf("subject %q", fr.Subject)
	}
	for _, want := range []string{"Bonjour alice,", "Application d'authentification", "contactez immédiatement votre administrateur"} {
		if !strings.Contains(fr.Text, want) || !strings.Contains(fr.HTML, strings.ReplaceAll(want, "'", "&#39;")) {
			t.Errorf("the French notice lacks %q:\n%s\n%s", want, fr.Text, fr.HTML)
		}
	}
	for _, english := range []string{"Hi alice", "Authenticator app", "was added", "If this was you", "contact your administrator", "automatic security message"} {
		if strings.Contains(fr.Subject+fr.Text+fr.HTML, english) {
			t.Errorf("English %q left in the French notice", english)
		}
	}
	if !strings.Contains(fr.HTML, `<html lang="fr">`) {
		t.Error("the French HTML does not say it is French")
	}
	if de := box.sent[1]; !strings.Contains(de.Subject, "Zwei-Faktor-Methode zu Ihrem Konto bei Acme Corp hinzugefügt") {
		t.Errorf("a user without a language gets the realm's German, not %q", de.Subject)
	}
}
