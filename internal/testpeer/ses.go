package testpeer

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// SESPeer is a running aws-ses-v2-local, an Amazon SES v2 emulator that keeps
// every accepted email in memory.
type SESPeer struct {
	t    testing.TB
	proc *process
}

// SESEmail is one email the emulator accepted.
type SESEmail struct {
	MessageID string
	From      string
	To        []string
	Cc        []string
	Bcc       []string
	Subject   string
	Text      string
	HTML      string
	At        time.Time
}

// SES starts an SES emulator for the test and stops it when the test ends.
// Point an SES v2 client at Endpoint() with any region and credentials.
func SES(t testing.TB) *SESPeer {
	t.Helper()
	root := NodeDir(t)
	bin := filepath.Join(NodeModules(t), ".bin", "aws-ses-v2-local")
	requireFile(t, bin, "aws-ses-v2-local")
	requireNode(t) // the binary is a Node script
	proc := startProcess(t, "aws-ses-v2-local", root, "/health-check", func(port int) []string {
		// --host matters: the emulator's default is every interface.
		return []string{bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	})
	return &SESPeer{t: t, proc: proc}
}

// Endpoint is the base URL for the SES client (http://127.0.0.1:PORT).
func (p *SESPeer) Endpoint() string { return p.proc.baseURL }

// Emails returns every email accepted since the start or the last Clear, in
// the order they arrived. A failure to read them is reported on the test
// that started the peer, and returns nil.
func (p *SESPeer) Emails() []SESEmail {
	var store struct {
		Emails []struct {
			MessageID   string `json:"messageId"`
			From        string `json:"from"`
			Destination struct {
				To  []string `json:"to"`
				Cc  []string `json:"cc"`
				Bcc []string `json:"bcc"`
			} `json:"destination"`
			Subject string `json:"subject"`
			Body    struct {
				HTML string `json:"html"`
				Text string `json:"text"`
			} `json:"body"`
			At int64 `json:"at"` // Unix seconds
		} `json:"emails"`
	}
	if err := p.proc.getJSON("/store", &store); err != nil {
		p.t.Errorf("testpeer: reading SES emulator store: %v", err)
		return nil
	}
	emails := make([]SESEmail, 0, len(store.Emails))
	for _, e := range store.Emails {
		emails = append(emails, SESEmail{
			MessageID: e.MessageID,
			From:      e.From,
			To:        e.Destination.To,
			Cc:        e.Destination.Cc,
			Bcc:       e.Destination.Bcc,
			Subject:   e.Subject,
			Text:      e.Body.Text,
			HTML:      e.Body.HTML,
			At:        time.Unix(e.At, 0),
		})
	}
	return emails
}

// Clear forgets every stored email.
func (p *SESPeer) Clear() {
	if err := p.proc.post("/clear-store"); err != nil {
		p.t.Errorf("testpeer: clearing SES emulator store: %v", err)
	}
}

// Stop kills the emulator now, so a test can see how senders fail when SES
// is unreachable. It is also done when the test ends.
func (p *SESPeer) Stop() { p.proc.Stop() }
