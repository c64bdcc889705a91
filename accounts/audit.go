package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// The audit log: who did what, when, from where. Newest first when
// listed; kept for AuditRetention.

// AuditRetention bounds how long audit events are kept.
const AuditRetention = 400 * 24 * time.Hour

// AuditEvent is one entry.
type AuditEvent struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`             // who acted ("operator" for the admin endpoint)
	Action  string    `json:"action"`            // enrolled, reset, policy_changed, ...
	Subject string    `json:"subject,omitempty"` // whom it concerned
	IP      string    `json:"ip,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// auditLabels say what an action was, for the admin pages (the API keeps
// the stable codes).
var auditLabels = map[string]string{
	"admin_denied":             "was refused the security settings",
	"policy_change_proposed":   "proposed a change",
	"policy_changed":           "changed two-factor settings",
	"policy_change_refused":    "had a change refused",
	"policy_change_abandoned":  "abandoned a change",
	"user_reset":               "reset two-factor authentication",
	"devices_revoked":          "revoked trusted devices",
	"device_revoked":           "removed a trusted device",
	"signed_out_other_devices": "signed out other devices",
	"enrolled":                 "set up a method",
	"locked_out":               "was locked out after too many wrong codes",
	"device_trusted":           "trusted a device",
	"unlocked":                 "unlocked code entry",
	"cookie_refused":           "was refused: a cookie the app could read differently",
	"credential_refused":       "was refused: a sign-in the gateway cannot check",
}

// Label is the action in words.
func (e AuditEvent) Label() string {
	if l, ok := auditLabels[e.Action]; ok {
		return l
	}
	return strings.ReplaceAll(e.Action, "_", " ")
}

// maxAuditEvents bounds a realm's audit log: past it, the oldest events
// go first, whatever their age. (A variable for the tests.)
var maxAuditEvents int64 = 100_000

// MaxAuditDetail bounds the text an event keeps (a path, a summary): the
// log must not grow by what a client chooses to send.
const MaxAuditDetail = 256

// Audit appends an event. IDs sort by time, so listing in reverse is
// newest first.
func Audit(ctx context.Context, b store.Backend, realm string, e AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	e.ID = fmt.Sprintf("%020d-%s", e.Time.UnixNano(), RandomToken(4))
	e.Detail = ClipText(e.Detail, MaxAuditDetail)
	e.Subject = ClipText(e.Subject, MaxAuditDetail)
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := b.Put(ctx, Keys{realm}.Audit(e.ID), raw, AuditRetention); err != nil {
		return err
	}
	return boundAudit(ctx, b, realm)
}

// auditTrimBatch is how many events one write may drop to stay within
// the bound.
const auditTrimBatch = 100

// boundAudit keeps the realm's log within maxAuditEvents: a counter of
// events kept, and the oldest dropped once it is past the bound. Several
// instances may trim at once; a few events too many for a moment is fine.
func boundAudit(ctx context.Context, b store.Backend, realm string) error {
	countKey := Keys{realm}.AuditCount()
	n, _, err := b.Incr(ctx, countKey, 1, 0)
	if err != nil || n <= maxAuditEvents {
		return err
	}
	oldest, err := b.List(ctx, Keys{realm}.AuditBucket(), "", int(min(n-maxAuditEvents, auditTrimBatch)), false)
	if err != nil {
		return err
	}
	for _, e := range oldest {
		if err := b.Delete(ctx, Keys{realm}.Audit(e.ID)); err != nil {
			return err
		}
	}
	_, _, err = b.Incr(ctx, countKey, -int64(len(oldest)), 0)
	return err
}

// ListAudit returns up to limit events older than before ("" for the
// newest), newest first.
func ListAudit(ctx context.Context, b store.Backend, realm, before string, limit int) ([]AuditEvent, error) {
	entries, err := b.List(ctx, Keys{realm}.AuditBucket(), before, limit, true)
	if err != nil {
		return nil, err
	}
	out := make([]AuditEvent, 0, len(entries))
	for _, e := range entries {
		var ev AuditEvent
		if json.Unmarshal(e.Value, &ev) == nil {
			out = append(out, ev)
		}
	}
	return out, nil
}

// ClipText bounds what a record keeps of text a client chose.
func ClipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
