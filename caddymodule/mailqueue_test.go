package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/notify"
)

func TestUnmarshalMailQueue(t *testing.T) {
	var a App
	d := caddyfile.NewTestDispenser(`twofactor {
		mail_queue {
			lease 20s
			max_attempts 5
			backoff 1m
		}
	}`)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := notify.QueueOptions{Lease: 20 * time.Second, MaxAttempts: 5, Backoff: time.Minute}
	if got := a.MailQueue.options(); got.Lease != want.Lease || got.MaxAttempts != want.MaxAttempts || got.Backoff != want.Backoff {
		t.Fatalf("queue options %+v, want %+v (app %s)", got, want, jsonOf(&a))
	}
	if got := (*MailQueue)(nil).options(); got.Lease != 0 || got.MaxAttempts != 0 || got.Backoff != 0 {
		t.Fatalf("no mail_queue must leave the queue's defaults, got %+v", got)
	}
}

func TestMailQueueRefusesALeaseTooShortForASend(t *testing.T) {
	for in, want := range map[string]string{
		"lease 2s":          "shorter than 10s",
		"backoff 100ms":     "shorter than 1s",
		"max_attempts 0":    "positive whole number",
		"max_attempts many": "positive whole number",
		"max_attempts 1000": "from 1 to 100",
		"lease":             "wrong argument count",
		"colour blue":       "unrecognized mail_queue option",
		"lease 20s\n }\n mail_queue {\n lease 30s": "given twice",
	} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("twofactor {\n mail_queue {\n " + in + "\n }\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want an error containing %q, got %v", in, want, err)
		}
	}
	a := newTestApp()
	a.MailQueue = &MailQueue{MaxAttempts: -1}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "max_attempts") {
		t.Errorf("JSON max_attempts -1: want refused, got %v", err)
	}
}
