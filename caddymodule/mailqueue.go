package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/notify"
)

// MailQueue tunes the durable queue of setup emails and reminders.
type MailQueue struct {
	// Lease is how long an instance owns a message it is sending: when it
	// dies holding one, another instance (or it, restarted) sends that
	// message once the lease has run out. Sends time out after half of
	// it. At least 10s. Default 2m.
	Lease caddy.Duration `json:"lease,omitempty"`
	// MaxAttempts is how many times a message is tried before the queue
	// gives up on it (counted as failed on Settings › Security): 1 to 100.
	// Default 8.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Backoff is the wait before a failed message is tried again; it
	// doubles with each further failure, up to an hour. At least 1s.
	// Default 30s.
	Backoff caddy.Duration `json:"backoff,omitempty"`
}

// Bounds of the queue's settings: a lease must leave a send time to
// finish, and a backoff of less than a second only hammers a provider
// that is already refusing.
const (
	minQueueLease    = 10 * time.Second
	minQueueBackoff  = time.Second
	maxQueueAttempts = 100
)

func (m *MailQueue) validate() error {
	switch {
	case m == nil:
		return nil
	case m.Lease != 0 && time.Duration(m.Lease) < minQueueLease:
		return fmt.Errorf("twofactor mail_queue: lease %v is shorter than %v", time.Duration(m.Lease), minQueueLease)
	case m.Backoff != 0 && time.Duration(m.Backoff) < minQueueBackoff:
		return fmt.Errorf("twofactor mail_queue: backoff %v is shorter than %v", time.Duration(m.Backoff), minQueueBackoff)
	case m.MaxAttempts < 0 || m.MaxAttempts > maxQueueAttempts:
		return fmt.Errorf("twofactor mail_queue: max_attempts must be from 1 to %d, got %d", maxQueueAttempts, m.MaxAttempts)
	}
	return nil
}

// options are the queue options m sets (zero values: the defaults).
func (m *MailQueue) options() notify.QueueOptions {
	if m == nil {
		return notify.QueueOptions{}
	}
	return notify.QueueOptions{Lease: time.Duration(m.Lease), MaxAttempts: m.MaxAttempts, Backoff: time.Duration(m.Backoff)}
}

// unmarshalMailQueue reads "mail_queue { lease <d>; max_attempts <n>;
// backoff <d> }".
func (a *App) unmarshalMailQueue(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if a.MailQueue != nil {
		return d.Err("mail_queue given twice")
	}
	m := &MailQueue{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "lease":
			m.Lease, err = durationArg(d)
		case "backoff":
			m.Backoff, err = durationArg(d)
		case "max_attempts":
			if err = countArg(d, &m.MaxAttempts); err == nil && d.NextArg() {
				err = d.ArgErr()
			}
		default:
			return d.Errf("unrecognized mail_queue option %q (lease, max_attempts, backoff)", opt)
		}
		if err != nil {
			return err
		}
	}
	a.MailQueue = m
	return m.validate()
}
