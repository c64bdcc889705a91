package challenge

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// NoticesConfig is what the notices of one site need.
type NoticesConfig struct {
	Realm string
	// Org names the organisation in the emails.
	Org string
	// Catalog and Language: each email is in its user's language, else
	// the realm's default (nil Catalog: the shipped one).
	Catalog  *locale.Catalog
	Language string
	// SiteURL and PathPrefix make the links in emails (never taken from a
	// request's Host header).
	SiteURL    string
	PathPrefix string
	// Email sends the notices; nil: none are sent (they are audited all
	// the same).
	Email   notify.EmailSender
	Logger  *slog.Logger
	OnEvent func(name string)
	Now     func() time.Time
}

// Notices tell a user by email, and the audit log, of what happened to
// their account: a new method, a new trusted device, devices removed, and
// code entry held after wrong codes (someone may know their password).
type Notices struct {
	backend store.Backend
	cfg     NoticesConfig
}

// NewNotices is a site's notices.
func NewNotices(b store.Backend, cfg NoticesConfig) *Notices {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(string) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Catalog == nil {
		cfg.Catalog = locale.Default()
	}
	return &Notices{backend: b, cfg: cfg}
}

// WrongCode is the code checker's word of a wrong code: counted, logged,
// and when it began a hold, audited and mailed to the user.
func (n *Notices) WrongCode(ctx context.Context, t verify.Try, step verify.Step) {
	n.cfg.OnEvent("wrong_code")
	n.cfg.Logger.Info("wrong two-factor code", "realm", n.cfg.Realm, "user", t.User, "client_ip", t.IP)
	if !step.Reached() {
		return
	}
	detail := fmt.Sprintf("%d wrong codes in a row: code entry held for %s", step.Streak, minutes(nil, step.Wait))
	if step.Hard {
		detail = fmt.Sprintf("%d wrong codes in a row: code entry held until unlocked", step.Streak)
		n.cfg.OnEvent("user_hard_locked")
	} else {
		n.cfg.OnEvent("user_locked_out")
	}
	n.cfg.Logger.Warn("two-factor code entry held", "realm", n.cfg.Realm, "user", t.User, "detail", detail)
	n.audit(ctx, accounts.AuditEvent{Actor: t.User, Action: "locked_out", Subject: t.User, IP: t.IP, Detail: detail})
	u, err := accounts.GetUser(ctx, n.backend, n.cfg.Realm, t.User)
	if err != nil || u.Email == "" {
		return
	}
	m := notify.LockNotice(notify.LockMessage{Words: n.words(u), Org: n.cfg.Org, Wrong: step.Streak, Wait: step.Wait, Hard: step.Hard, SiteURL: n.cfg.SiteURL, UnlockPath: n.cfg.PathPrefix + "/unlock"})
	n.send(ctx, u.Email, m, "the code-entry hold notice")
}

// HeldTry is the code checker's word of a try it did not compare.
func (n *Notices) HeldTry(verify.Try, *verify.Refused) { n.cfg.OnEvent("attempt_refused") }

// enrolled tells the user of a new method, so one added by someone else
// does not go unnoticed.
func (n *Notices) enrolled(ctx context.Context, u *accounts.User, method string) {
	n.cfg.Logger.Info("user enrolled a method", "realm", n.cfg.Realm, "user", u.ID, "method", method)
	n.cfg.OnEvent("enrolled_" + method)
	n.audit(ctx, accounts.AuditEvent{Actor: u.ID, Action: "enrolled", Subject: u.ID, Detail: methodNames[method]})
	if u.Email != "" {
		w := n.words(u)
		n.send(ctx, u.Email, notify.MethodAddedEmail(w, n.cfg.Org, displayName(u), w.T("method."+method), n.cfg.Now()), "the method-added notice")
	}
}

// deviceTrusted tells the user a device now skips the second step.
func (n *Notices) deviceTrusted(ctx context.Context, u *accounts.User, d accounts.Device, days int) {
	n.cfg.OnEvent("device_trusted")
	n.audit(ctx, accounts.AuditEvent{Actor: u.ID, Action: "device_trusted", Subject: u.ID, IP: d.IP, Detail: d.UserAgent})
	n.cfg.Logger.Info("device trusted", "realm", n.cfg.Realm, "user", u.ID, "device", d.UserAgent, "client_ip", d.IP, "days", days)
	if u.Email != "" {
		n.send(ctx, u.Email, notify.NewDeviceEmail(n.words(u), n.cfg.Org, displayName(u), d.UserAgent, d.IP, d.Created, days), "the new-device notice")
	}
}

// devicesRemoved tells the user their devices no longer skip the second
// step (count of them; 0: every other).
func (n *Notices) devicesRemoved(ctx context.Context, id identity.Identity, ip string, count int) {
	action := "device_revoked"
	if count == 0 {
		action = "signed_out_other_devices"
	}
	n.audit(ctx, accounts.AuditEvent{Actor: id.ID, Action: action, Subject: id.ID, IP: ip})
	if id.Email != "" {
		u, _ := accounts.GetUser(ctx, n.backend, n.cfg.Realm, id.ID) // nil: the realm's language
		n.send(ctx, id.Email, notify.DevicesRemovedEmail(n.words(u), n.cfg.Org, id.Name, count, n.cfg.Now()), "the devices-removed notice")
	}
}

// recoveryCodesMade audits a new set of recovery codes (never the codes);
// a set that replaced another is mailed to the user.
func (n *Notices) recoveryCodesMade(ctx context.Context, u *accounts.User, replaced bool) {
	action := "recovery_codes_generated"
	if replaced {
		action = "recovery_codes_regenerated"
	}
	n.cfg.OnEvent(action)
	n.audit(ctx, accounts.AuditEvent{Actor: u.ID, Action: action, Subject: u.ID})
	if replaced && u.Email != "" {
		n.send(ctx, u.Email, notify.RecoveryNewEmail(n.words(u), n.cfg.Org, displayName(u), n.cfg.Now()), "the new-recovery-codes notice")
	}
}

// recoveryCodeUsed audits and mails a sign-in with a recovery code.
func (n *Notices) recoveryCodeUsed(ctx context.Context, u *accounts.User, ip string, left int) {
	n.cfg.OnEvent("verified_recovery")
	n.audit(ctx, accounts.AuditEvent{Actor: u.ID, Action: "recovery_code_used", Subject: u.ID, IP: ip, Detail: fmt.Sprintf("%d left", left)})
	n.cfg.Logger.Info("recovery code used", "realm", n.cfg.Realm, "user", u.ID, "client_ip", ip, "left", left)
	if u.Email != "" {
		n.send(ctx, u.Email, notify.RecoveryUsedEmail(n.words(u), n.cfg.Org, displayName(u), ip, left, n.cfg.Now()), "the recovery-code notice")
	}
}

// passkeyCloned audits a passkey whose counter went backwards: a copy of
// it may be in someone else's hands.
func (n *Notices) passkeyCloned(ctx context.Context, u *accounts.User, ip string) {
	n.cfg.OnEvent("passkey_clone_suspected")
	n.cfg.Logger.Warn("passkey refused: its signature counter went backwards (a cloned authenticator?)", "realm", n.cfg.Realm, "user", u.ID, "client_ip", ip)
	n.audit(ctx, accounts.AuditEvent{Actor: u.ID, Action: "passkey_clone_suspected", Subject: u.ID, IP: ip})
}

// passkeyRemoved audits a passkey the user removed.
func (n *Notices) passkeyRemoved(ctx context.Context, u *accounts.User, name, ip string) {
	n.cfg.OnEvent("passkey_removed")
	n.audit(ctx, accounts.AuditEvent{Actor: u.ID, Action: "passkey_removed", Subject: u.ID, IP: ip, Detail: name})
}

// words are the language to write to u in: their choice, else their last
// page's, else the realm's default (u nil: not known).
func (n *Notices) words(u *accounts.User) *locale.Words {
	lang := ""
	if u != nil {
		lang = u.Lang()
	}
	return n.cfg.Catalog.Choose(lang, "", n.cfg.Language)
}

// send mails m to a user.
func (n *Notices) send(ctx context.Context, to string, m notify.Email, what string) {
	m.To = to
	notify.SendNotice(ctx, n.cfg.Email, m, n.cfg.Logger, what)
}

// audit writes an event; a failure is logged, not fatal.
func (n *Notices) audit(ctx context.Context, e accounts.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = n.cfg.Now()
	}
	if err := accounts.Audit(context.WithoutCancel(ctx), n.backend, n.cfg.Realm, e); err != nil {
		n.cfg.Logger.Warn("could not write an audit event", "action", e.Action, "error", err)
	}
}
