package notify_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/notify"
)

func newOutbox(t testing.TB) *notify.Outbox {
	t.Helper()
	outbox, err := notify.NewOutbox(filepath.Join(t.TempDir(), "outbox"))
	if err != nil {
		t.Fatalf("NewOutbox: %v", err)
	}
	return outbox
}

func onlyFile(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("outbox holds %d files, want 1", len(entries))
	}
	return filepath.Join(dir, entries[0].Name())
}

func TestOutboxEmailIsStandardMIME(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	m := notify.CodeEmail(notify.CodeMessage{Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute})
	m.To = "alice@acme.example"
	if err := outbox.SendEmail(context.Background(), m); err != nil {
		t.Fatalf("SendEmail: %v", err)
	}
	path := onlyFile(t, outbox.Dir())
	if !strings.HasSuffix(path, "-email.eml") {
		t.Errorf("file %s, want a -email.eml name", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// Read it with the standard library only, as a mail client would.
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("net/mail cannot read the file: %v", err)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || len(from) != 1 ||
		from[0].Name != "caddy2fa" || from[0].Address != "no-reply@localhost" {
		t.Errorf("From: %q, want %q", msg.Header.Get("From"), notify.DefaultOutboxFrom)
	}
	for header, want := range map[string]string{
		"To":           "alice@acme.example",
		"Subject":      m.Subject,
		"MIME-Version": "1.0",
	} {
		if got := msg.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	if id := msg.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@localhost>") {
		t.Errorf("Message-ID %q", id)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		body, err := io.ReadAll(part) // decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		partType, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		parts[partType] = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
	if len(parts) != 2 {
		t.Fatalf("parts %v, want text/plain and text/html", keys(parts))
	}
	if parts["text/plain"] != m.Text {
		t.Errorf("text part:\n%s\nwant:\n%s", parts["text/plain"], m.Text)
	}
	if strings.TrimRight(parts["text/html"], "\n") != strings.TrimRight(m.HTML, "\n") {
		t.Errorf("HTML part:\n%s\nwant:\n%s", parts["text/html"], m.HTML)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

func TestOutboxEncodesNonASCIISubject(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	outbox.From = "Sécurité Acme <security@acme.example>"
	m := notify.Email{To: "Zoë Müller <zoe@acme.example>", Subject: "Grüße – 493817", Text: "Grüße\n"}
	if err := outbox.SendEmail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(onlyFile(t, outbox.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for _, r := range header {
		if r > 0x7e {
			t.Fatalf("header is not ASCII (RFC 2047 encoding missing):\n%s", header)
		}
	}
	got, err := notify.ReadOutbox(outbox.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Subject != m.Subject || got[0].To != "zoe@acme.example" || got[0].Text != "Grüße" || got[0].HTML != "" {
		t.Errorf("read back %+v", got[0])
	}
}

func TestOutboxSubjectCannotInjectHeaders(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	m := notify.Email{To: "alice@acme.example", Subject: "hello\r\nBcc: mallory@evil.example", Text: "t"}
	if err := outbox.SendEmail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(onlyFile(t, outbox.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if bcc := msg.Header.Get("Bcc"); bcc != "" {
		t.Errorf("subject injected a Bcc header: %q", bcc)
	}
}

func TestOutboxSMSFile(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	if err := outbox.SendSMS(context.Background(), notify.SMS{To: "+15555550101", Text: "Acme code: 493817."}); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	path := onlyFile(t, outbox.Dir())
	if !strings.HasSuffix(path, "-sms.txt") {
		t.Errorf("file %s, want a -sms.txt name", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "To: +15555550101\n\nAcme code: 493817.\n"; string(raw) != want {
		t.Errorf("file holds %q, want %q", raw, want)
	}
	if err := outbox.SendSMS(context.Background(), notify.SMS{To: "5555550101", Text: "x"}); !errors.Is(err, notify.ErrDelivery) {
		t.Errorf("SendSMS to a number without country code = %v, want ErrDelivery", err)
	}
}

func TestOutboxFilesArePrivateAndNamesRevealNoRecipient(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	ctx := context.Background()
	if err := outbox.SendEmail(ctx, notify.Email{To: "alice@acme.example", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := outbox.SendSMS(ctx, notify.SMS{To: "+15555550101", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	dirInfo, err := os.Stat(outbox.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if perm := dirInfo.Mode().Perm(); perm != 0o700 {
		t.Errorf("outbox directory mode %o, want 700", perm)
	}
	entries, err := os.ReadDir(outbox.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("outbox holds %d files, want 2 (no temporary files left)", len(entries))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode %o, want 600", e.Name(), perm)
		}
		if strings.Contains(e.Name(), "alice") || strings.Contains(e.Name(), "5555550101") {
			t.Errorf("file name %s reveals the recipient", e.Name())
		}
	}
}

func TestReadOutboxReturnsMessagesInSendOrder(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	ctx := context.Background()
	// Sent as fast as possible: names must still sort in send order.
	const n = 20
	for i := range n {
		var err error
		if i%2 == 0 {
			err = outbox.SendEmail(ctx, notify.Email{To: "alice@acme.example", Subject: "message " + itoa(i), Text: itoa(i)})
		} else {
			err = outbox.SendSMS(ctx, notify.SMS{To: "+15555550101", Text: itoa(i)})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A half-written file and a stranger are ignored.
	os.WriteFile(filepath.Join(outbox.Dir(), ".tmp-123"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(outbox.Dir(), "README"), []byte("not a message"), 0o600)

	messages, err := notify.ReadOutbox(outbox.Dir())
	if err != nil {
		t.Fatalf("ReadOutbox: %v", err)
	}
	if len(messages) != n {
		t.Fatalf("ReadOutbox found %d messages, want %d", len(messages), n)
	}
	for i, m := range messages {
		if m.Text != itoa(i) {
			t.Errorf("message %d has text %q: out of order", i, m.Text)
		}
		wantKind, wantTo := notify.KindEmail, "alice@acme.example"
		if i%2 == 1 {
			wantKind, wantTo = notify.KindSMS, "+15555550101"
		}
		if m.Kind != wantKind || m.To != wantTo {
			t.Errorf("message %d: kind %s to %s, want %s to %s", i, m.Kind, m.To, wantKind, wantTo)
		}
		if wantKind == notify.KindEmail && m.Subject != "message "+itoa(i) {
			t.Errorf("message %d: subject %q", i, m.Subject)
		}
		if i > 0 && !m.Time.After(messages[i-1].Time) {
			t.Errorf("message %d time %v not after %v", i, m.Time, messages[i-1].Time)
		}
		if filepath.Dir(m.Path) != outbox.Dir() {
			t.Errorf("message %d path %s outside the outbox", i, m.Path)
		}
	}
}

func itoa(i int) string { return string(rune('a' + i)) }

func TestOutboxHonoursCancelledContext(t *testing.T) {
	t.Parallel()
	outbox := newOutbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := outbox.SendEmail(ctx, notify.Email{To: "alice@acme.example", Subject: "s", Text: "t"})
	if !errors.Is(err, notify.ErrDelivery) || !errors.Is(err, context.Canceled) {
		t.Errorf("SendEmail with a cancelled context = %v, want ErrDelivery and context.Canceled", err)
	}
}
