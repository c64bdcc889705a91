package caddymodule

import (
	"context"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/notify"
)

func init() {
	caddy.RegisterModule(new(SESSender))
	caddy.RegisterModule(new(EmailOutbox))
	caddy.RegisterModule(new(SNSSender))
	caddy.RegisterModule(new(SMSOutbox))
}

// Senders are guest modules: twofactor.senders.email.* deliver email (they
// implement notify.EmailSender), twofactor.senders.sms.* deliver texts
// (notify.SMSSender). Another provider is one more module in the
// namespace: see the README.

// SESSender is twofactor.senders.email.ses: Amazon SES v2.
type SESSender struct {
	// Region is the AWS region; default the SDK's (AWS_REGION, shared
	// config).
	Region string `json:"region,omitempty"`
	// From is the sender, a verified SES identity: "Acme Security
	// <security@acme.example>"; required.
	From string `json:"from,omitempty"`
	// ConfigurationSet is an SES configuration set (event publishing,
	// suppression lists). Default: none.
	ConfigurationSet string `json:"configuration_set,omitempty"`
	// Endpoint points at an SES-compatible service instead of AWS.
	// Default: AWS.
	Endpoint string `json:"endpoint,omitempty"`
	// Rate caps messages per second (the SES account's rate). Default 14.
	Rate float64 `json:"rate,omitempty"`

	ses *notify.SES
}

// CaddyModule returns the Caddy module information.
func (*SESSender) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.senders.email.ses", New: func() caddy.Module { return new(SESSender) }}
}

// Provision builds the SES client (placeholders resolved); it sends
// nothing.
func (s *SESSender) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	ses, err := notify.NewSES(ctx, notify.SESConfig{
		Region: repl.ReplaceAll(s.Region, ""), From: repl.ReplaceAll(s.From, ""),
		ConfigurationSet: s.ConfigurationSet, Endpoint: repl.ReplaceAll(s.Endpoint, ""), Rate: s.Rate,
	})
	if err != nil {
		return fmt.Errorf("twofactor email ses: %w", err)
	}
	s.ses = ses
	return nil
}

// SendEmail implements notify.EmailSender.
func (s *SESSender) SendEmail(ctx context.Context, m notify.Email) error {
	return s.ses.SendEmail(ctx, m)
}

// SendRate is how many messages per second the durable queue may send.
func (s *SESSender) SendRate() float64 { return s.Rate }

// UnmarshalCaddyfile reads "ses { region ...; from ...; ... }".
func (s *SESSender) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // ses
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "region":
			dst = &s.Region
		case "from":
			dst = &s.From
		case "configuration_set":
			dst = &s.ConfigurationSet
		case "endpoint":
			dst = &s.Endpoint
		case "rate":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r <= 0 {
				return d.Errf("rate must be a positive number of messages per second, got %q", v)
			}
			s.Rate = r
			continue
		default:
			return d.Errf("unrecognized email ses option %q", d.Val())
		}
		if !d.AllArgs(dst) {
			return d.ArgErr()
		}
	}
	if s.From == "" {
		return d.Err("email ses needs a from address: from \"Acme Security <security@acme.example>\"")
	}
	return nil
}

// EmailOutbox is twofactor.senders.email.outbox: one .eml file per
// message in a folder, for demos and development.
type EmailOutbox struct {
	outbox
}

// CaddyModule returns the Caddy module information.
func (*EmailOutbox) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.senders.email.outbox", New: func() caddy.Module { return new(EmailOutbox) }}
}

// SMSOutbox is twofactor.senders.sms.outbox: one .txt file per text in a
// folder.
type SMSOutbox struct {
	outbox
}

// CaddyModule returns the Caddy module information.
func (*SMSOutbox) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.senders.sms.outbox", New: func() caddy.Module { return new(SMSOutbox) }}
}

// outbox is what both outboxes are; the folder is made by the first
// message, so a checked configuration writes nothing.
type outbox struct {
	// Dir is the folder; placeholders are resolved. Required.
	Dir string `json:"dir,omitempty"`

	box *notify.Outbox
}

// Provision implements caddy.Provisioner.
func (o *outbox) Provision(caddy.Context) error {
	box, err := notify.NewOutbox(caddy.NewReplacer().ReplaceAll(o.Dir, ""))
	if err != nil {
		return fmt.Errorf("twofactor outbox: %w", err)
	}
	o.box = box
	return nil
}

// SendEmail implements notify.EmailSender.
func (o *EmailOutbox) SendEmail(ctx context.Context, m notify.Email) error {
	return o.box.SendEmail(ctx, m)
}

// SendSMS implements notify.SMSSender.
func (o *SMSOutbox) SendSMS(ctx context.Context, m notify.SMS) error { return o.box.SendSMS(ctx, m) }

// UnmarshalCaddyfile reads "outbox <dir>".
func (o *outbox) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // outbox
	if !d.AllArgs(&o.Dir) {
		return d.ArgErr()
	}
	return nil
}

// SNSSender is twofactor.senders.sms.sns: Amazon SNS (a paid add-on).
type SNSSender struct {
	// Region is the AWS region; default the SDK's (AWS_REGION, shared
	// config).
	Region string `json:"region,omitempty"`
	// SenderID is the alphanumeric sender shown where countries allow it.
	// Default: none.
	SenderID string `json:"sender_id,omitempty"`
	// MaxPrice caps one message's price in US dollars ("0.50"). Default:
	// the account's limit only.
	MaxPrice string `json:"max_price,omitempty"`
	// Endpoint points at an SNS-compatible service instead of AWS.
	// Default: AWS.
	Endpoint string `json:"endpoint,omitempty"`

	sns *notify.SNS
}

// CaddyModule returns the Caddy module information.
func (*SNSSender) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.senders.sms.sns", New: func() caddy.Module { return new(SNSSender) }}
}

// Provision builds the SNS client; it sends nothing.
func (s *SNSSender) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	sns, err := notify.NewSNS(ctx, notify.SNSConfig{
		Region: repl.ReplaceAll(s.Region, ""), SenderID: s.SenderID, MaxPrice: s.MaxPrice, Endpoint: repl.ReplaceAll(s.Endpoint, ""),
	})
	if err != nil {
		return fmt.Errorf("twofactor sms sns: %w", err)
	}
	s.sns = sns
	return nil
}

// SendSMS implements notify.SMSSender.
func (s *SNSSender) SendSMS(ctx context.Context, m notify.SMS) error { return s.sns.SendSMS(ctx, m) }

// UnmarshalCaddyfile reads "sns { region ...; sender_id ...; ... }".
func (s *SNSSender) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // sns
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "region":
			dst = &s.Region
		case "sender_id":
			dst = &s.SenderID
		case "max_price":
			dst = &s.MaxPrice
		case "endpoint":
			dst = &s.Endpoint
		default:
			return d.Errf("unrecognized sms sns option %q", d.Val())
		}
		if !d.AllArgs(dst) {
			return d.ArgErr()
		}
	}
	return nil
}

// sendRater is a sender that says how fast the durable queue may send.
type sendRater interface{ SendRate() float64 }

var (
	_ notify.EmailSender    = (*SESSender)(nil)
	_ notify.EmailSender    = (*EmailOutbox)(nil)
	_ notify.SMSSender      = (*SNSSender)(nil)
	_ notify.SMSSender      = (*SMSOutbox)(nil)
	_ caddy.Provisioner     = (*SESSender)(nil)
	_ caddy.Provisioner     = (*EmailOutbox)(nil)
	_ caddy.Provisioner     = (*SNSSender)(nil)
	_ caddyfile.Unmarshaler = (*SESSender)(nil)
	_ caddyfile.Unmarshaler = (*EmailOutbox)(nil)
	_ caddyfile.Unmarshaler = (*SMSOutbox)(nil)
	_ caddyfile.Unmarshaler = (*SNSSender)(nil)
)
