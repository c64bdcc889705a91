package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultOutboxFrom is the sender written into outbox emails.
const DefaultOutboxFrom = "caddy2fa <no-reply@localhost>"

// Outbox "delivers" email and SMS by writing one file per message into a
// directory: an RFC 5322 .eml file per email (opens in any mail client) and
// a .txt file per SMS. It is for demos and development, where nothing may
// leave the machine. Safe for concurrent use.
//
// File names sort by time and never contain the recipient:
// 20261127T061530.123456789Z-1a2b3c4d-email.eml.
type Outbox struct {
	// From is the sender of outbox emails; set it before the first send.
	// Default DefaultOutboxFrom.
	From string

	dir  string
	mu   sync.Mutex
	last time.Time // keeps names strictly increasing when the clock is coarse
}

// Message kinds in outbox file names and OutboxMessage.Kind.
const (
	KindEmail = "email"
	KindSMS   = "sms"
)

const outboxTimeLayout = "20060102T150405.000000000Z"

// NewOutbox writes into dir, which the first message creates (mode 0700:
// messages hold codes) when it is missing: a configuration that is only
// checked writes nothing.
func NewOutbox(dir string) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("notify: outbox: no directory")
	}
	return &Outbox{From: DefaultOutboxFrom, dir: dir}, nil
}

// Dir is the directory messages are written to.
func (o *Outbox) Dir() string { return o.dir }

// SendEmail writes m as a .eml file.
func (o *Outbox) SendEmail(ctx context.Context, m Email) error {
	masked := MaskEmail(m.To)
	if err := ctx.Err(); err != nil {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox to %s: %v", ErrDelivery, masked, err), ctxErr: err}
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox: sender %q is not an email address", ErrDelivery, o.From)}
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox to %s: not an email address", ErrDelivery, masked)}
	}
	now, name := o.nextName(KindEmail, ".eml")
	msg, err := buildEML(from, to, m, now, messageID(name, from.Address))
	if err != nil {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox to %s: %v", ErrDelivery, masked, err)}
	}
	return o.write(name, masked, msg)
}

// SendSMS writes m as a .txt file: "To: +15555550101", a blank line, the text.
func (o *Outbox) SendSMS(ctx context.Context, m SMS) error {
	masked := MaskPhone(m.To)
	if err := ctx.Err(); err != nil {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox to %s: %v", ErrDelivery, masked, err), ctxErr: err}
	}
	if !e164Pattern.MatchString(m.To) {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox to %s: not an E.164 phone number", ErrDelivery, masked)}
	}
	_, name := o.nextName(KindSMS, ".txt")
	body := "To: " + m.To + "\n\n" + strings.TrimRight(m.Text, "\n") + "\n"
	return o.write(name, masked, []byte(body))
}

// nextName returns the message time and a unique file name for it.
func (o *Outbox) nextName(kind, ext string) (time.Time, string) {
	o.mu.Lock()
	now := time.Now().UTC()
	if !now.After(o.last) {
		now = o.last.Add(time.Nanosecond)
	}
	o.last = now
	o.mu.Unlock()
	var random [4]byte
	rand.Read(random[:])
	return now, now.Format(outboxTimeLayout) + "-" + hex.EncodeToString(random[:]) + "-" + kind + ext
}

// write creates the file atomically: readers never see half a message.
func (o *Outbox) write(name, maskedTo string, data []byte) error {
	fail := func(err error) error {
		return &deliveryError{msg: fmt.Sprintf("%v: outbox to %s: %v", ErrDelivery, maskedTo, err)}
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fail(err)
	}
	tmp, err := os.CreateTemp(o.dir, ".tmp-*") // mode 0600; dot files are skipped by ReadOutbox
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.dir, name)); err != nil {
		return fail(err)
	}
	return nil
}

func messageID(name, fromAddr string) string {
	domain := "localhost"
	if at := strings.LastIndexByte(fromAddr, '@'); at >= 0 {
		domain = fromAddr[at+1:]
	}
	return "<" + strings.TrimSuffix(name, filepath.Ext(name)) + "@" + domain + ">"
}

// buildEML renders an RFC 5322 message: multipart/alternative with a text
// and an HTML part, or a single text part when there is no HTML.
func buildEML(from, to *mail.Address, m Email, now time.Time, msgID string) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", formatAddress(from))
	header("To", formatAddress(to))
	// QEncoding leaves plain ASCII as it is and encodes the rest (RFC 2047).
	header("Subject", mime.QEncoding.Encode("UTF-8", oneLine(m.Subject)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")

	if m.HTML == "" {
		header("Content-Type", `text/plain; charset="UTF-8"`)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQuotedPrintable(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	// Least preferred first (RFC 2046): clients show the last part they can.
	for _, p := range []struct{ contentType, body string }{
		{`text/plain; charset="UTF-8"`, m.Text},
		{`text/html; charset="UTF-8"`, m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQuotedPrintable(w, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.Write(parts.Bytes())
	return b.Bytes(), nil
}

// writeQuotedPrintable writes s, ending in a line break, encoded; the
// encoder also turns LF line breaks into CRLF.
func writeQuotedPrintable(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}

// OutboxMessage is one message read back from an outbox directory.
type OutboxMessage struct {
	Kind    string // KindEmail or KindSMS
	To      string // address or E.164 number
	Subject string // email only, decoded
	Text    string // plain-text body, decoded, without trailing line breaks
	HTML    string // email only, likewise; empty when the email had no HTML part
	Path    string
	Time    time.Time // when it was written, from the file name
}

// ReadOutbox parses every message in dir, oldest first. For tests, and for
// people following the demo.
func ReadOutbox(dir string) ([]OutboxMessage, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing was sent yet
	}
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	var messages []OutboxMessage
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		var kind string
		switch {
		case strings.HasSuffix(name, "-"+KindEmail+".eml"):
			kind = KindEmail
		case strings.HasSuffix(name, "-"+KindSMS+".txt"):
			kind = KindSMS
		default:
			continue
		}
		stamp, _, _ := strings.Cut(name, "-")
		when, err := time.Parse(outboxTimeLayout, stamp)
		if err != nil {
			continue // not written by an Outbox
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("notify: outbox: %w", err)
		}
		m := OutboxMessage{Kind: kind, Path: path, Time: when}
		if kind == KindEmail {
			err = parseEML(data, &m)
		} else {
			err = parseSMSFile(data, &m)
		}
		if err != nil {
			return nil, fmt.Errorf("notify: outbox: %s: %w", name, err)
		}
		messages = append(messages, m)
	}
	sort.Slice(messages, func(i, j int) bool {
		if !messages[i].Time.Equal(messages[j].Time) {
			return messages[i].Time.Before(messages[j].Time)
		}
		return messages[i].Path < messages[j].Path
	})
	return messages, nil
}

func parseEML(data []byte, m *OutboxMessage) error {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if to, err := mail.ParseAddress(msg.Header.Get("To")); err == nil {
		m.To = to.Address
	} else {
		m.To = msg.Header.Get("To")
	}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodeBody(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		m.Text = body
		return err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		// NextPart already decodes quoted-printable parts.
		raw, err := io.ReadAll(part)
		if err != nil {
			return err
		}
		body := trimBody(raw)
		switch partType, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); partType {
		case "text/plain":
			m.Text = body
		case "text/html":
			m.HTML = body
		}
	}
}

func decodeBody(r io.Reader, encoding string) (string, error) {
	if strings.EqualFold(strings.TrimSpace(encoding), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	raw, err := io.ReadAll(r)
	return trimBody(raw), err
}

// trimBody turns a body into the form ReadOutbox returns: LF line breaks,
// none at the end.
func trimBody(raw []byte) string {
	return strings.TrimRight(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
}

func parseSMSFile(data []byte, m *OutboxMessage) error {
	r := bufio.NewReader(bytes.NewReader(data))
	first, err := r.ReadString('\n')
	if err != nil {
		return errors.New("no To line")
	}
	to, ok := strings.CutPrefix(strings.TrimRight(first, "\r\n"), "To: ")
	if !ok {
		return errors.New("no To line")
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.To = to
	m.Text = trimBody(bytes.TrimPrefix(rest, []byte("\n")))
	return nil
}

var (
	_ EmailSender = (*Outbox)(nil)
	_ SMSSender   = (*Outbox)(nil)
)
