// Package orgadmin is Settings › Security: org admins enable, edit and
// disable two-factor authentication for everyone, each change confirmed by
// a code emailed to that admin; they reset users, unlock them, remove
// their trusted devices and read the audit log. Operators do the same from
// Caddy's admin endpoint, without a code (that endpoint is theirs alone).
//
// One use-case type, Admin, does all of it; three thin transports offer
// it: the HTML pages and the JSON API here, and the Caddy admin routes in
// the Caddy glue. They share one table from errors to answers (Answer).
package orgadmin

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// BulkMailer sends many emails durably: the setup instructions that go to
// every user when two-factor authentication is turned on.
type BulkMailer interface {
	Enqueue(ctx context.Context, job string, items []notify.QueuedEmail) (int, error)
	Progress(ctx context.Context, job string) (notify.Progress, error)
}

// DefaultAdminPermission is the group of org admins ("Manager of General
// Settings") when the realm names none.
const DefaultAdminPermission = "general_settings:manager"

// Config is one realm's settings, as a site (or the operator) sees them.
type Config struct {
	Realm string // default "default"
	// Org names the organisation in emails.
	Org string
	// Catalog and Language: each email is in its user's language, else
	// the realm's default (nil Catalog: the shipped one).
	Catalog  *locale.Catalog
	Language string
	// AdminPermission is the group that makes a user an org admin.
	AdminPermission string // default "general_settings:manager"
	// SiteURL is where the setup emails send users.
	SiteURL string
	// EnforceImmediately is shown on the settings page: sessions open
	// before 2FA was turned on are challenged at once.
	EnforceImmediately bool
	// Email sends confirmation codes and notices; SMS says whether texts
	// can be sent (the paid add-on), so the policy may offer them.
	Email notify.EmailSender
	SMS   bool
	// WebAuthn: the site takes passkeys (it has a site_url).
	WebAuthn bool
	// Mailer sends the setup emails when 2FA is turned on.
	Mailer BulkMailer
	Logger *slog.Logger
	// OnEvent is told of notable events (metrics).
	OnEvent func(name string)
	// OnUserChanged is told when a user's sessions end (a reset), so the
	// gate's caches follow at once.
	OnUserChanged func(user string)
	Now           func() time.Time
}

func (c *Config) setDefaults() {
	if c.Realm == "" {
		c.Realm = "default"
	}
	if c.AdminPermission == "" {
		c.AdminPermission = DefaultAdminPermission
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OnEvent == nil {
		c.OnEvent = func(string) {}
	}
	if c.OnUserChanged == nil {
		c.OnUserChanged = func(string) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Parts are what the use cases work with.
type Parts struct {
	Store  store.Backend
	Policy *policy.Snapshot // of Config.Realm
	// Checker checks confirmation codes; Codes sends them. Both may be nil
	// for an operator's Admin, which confirms nothing.
	Checker *verify.Checker
	Codes   *sentcode.Sender
}

// Admin is every use case of Settings › Security for one realm.
type Admin struct {
	cfg     Config
	backend store.Backend
	policy  *policy.Snapshot
	checker *verify.Checker
	codes   *sentcode.Sender
	denied  *accounts.Folder // audit of refused non-admins, folded per user
	tell    *announcer
	plan    *rollout.Plan
}

// New is a realm's admin use cases.
func New(cfg Config, p Parts) (*Admin, error) {
	cfg.setDefaults()
	if p.Store == nil || p.Policy == nil {
		return nil, errors.New("orgadmin: a store and a policy are required")
	}
	if p.Policy.Realm() != cfg.Realm {
		return nil, errors.New("orgadmin: the policy snapshot follows another realm")
	}
	a := &Admin{cfg: cfg, backend: p.Store, policy: p.Policy, checker: p.Checker, codes: p.Codes, denied: accounts.NewFolder(accounts.FoldWindow, 10_000)}
	a.tell = &announcer{backend: p.Store, cfg: &a.cfg}
	a.plan = &rollout.Plan{Store: p.Store, Realm: cfg.Realm, AdminPermission: cfg.AdminPermission, Now: cfg.Now}
	return a, nil
}

// Actor is who asks: an org admin, or the operator.
type Actor struct {
	ID string
	// Email is where the admin's confirmation codes go; "" takes the
	// address the user record holds.
	Email string
	// IP is the client's address, for the audit log.
	IP string
}

// Operator is the actor of Caddy's admin endpoint.
var Operator = Actor{ID: "operator"}

// name is how emails name the actor.
func (a Actor) name() string {
	if a.ID == Operator.ID {
		return "an operator"
	}
	return a.ID
}

// Realm is the realm's name.
func (a *Admin) Realm() string { return a.cfg.Realm }

// Permission is the group that makes a user an org admin.
func (a *Admin) Permission() string { return a.cfg.AdminPermission }

// Policy is the org policy in force.
func (a *Admin) Policy() policy.Policy { return *a.policy.Current() }

// StoredPolicy is the policy the store holds; found is false while it
// holds none (the configured initial policy is in force).
func (a *Admin) StoredPolicy(ctx context.Context) (p policy.Policy, found bool, err error) {
	return policy.Load(ctx, a.backend, a.cfg.Realm)
}

// Availability is what the operator can deliver.
func (a *Admin) Availability() policy.Availability {
	return policy.Availability{Email: a.cfg.Email != nil, SMS: a.cfg.SMS, WebAuthn: a.cfg.WebAuthn}
}

// ListUsers returns up to limit users after the ID after, and the ID to
// go on from ("" after the last).
func (a *Admin) ListUsers(ctx context.Context, after string, limit int) ([]accounts.UserSummary, string, error) {
	return accounts.ListUsers(ctx, a.backend, a.cfg.Realm, after, limit)
}

// ListAudit returns up to limit audit events before the ID before, newest
// first, and the ID to go on from.
func (a *Admin) ListAudit(ctx context.Context, before string, limit int) ([]accounts.AuditEvent, string, error) {
	limit = min(max(limit, 1), store.MaxListLimit)
	events, err := accounts.ListAudit(ctx, a.backend, a.cfg.Realm, before, limit)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(events) == limit {
		next = events[len(events)-1].ID
	}
	return events, next, nil
}

// ResetUser is "Reset 2FA": the user enrolls again at next login, their
// devices are revoked, and they are told by email.
func (a *Admin) ResetUser(ctx context.Context, by Actor, user string) error {
	u, err := accounts.ResetUser(ctx, a.backend, a.cfg.Realm, user)
	if err != nil {
		return err
	}
	a.cfg.OnUserChanged(user)
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "user_reset", Subject: user, IP: by.IP})
	a.cfg.Logger.Info("user's two-factor authentication reset", "realm", a.cfg.Realm, "user", user, "admin", by.ID)
	if u.Email != "" {
		a.tell.send(ctx, u.Email, a.tell.resetEmail(u, by), "the reset notice")
	}
	return nil
}

// UnlockUser is "Unlock": code entry held after many wrong codes is open
// again.
func (a *Admin) UnlockUser(ctx context.Context, by Actor, user string) error {
	if err := accounts.UnlockUser(ctx, a.backend, a.cfg.Realm, user); err != nil {
		return err
	}
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "unlocked", Subject: user, IP: by.IP})
	return nil
}

// RevokeDevices removes every trusted device of the user; it returns how
// many there were.
func (a *Admin) RevokeDevices(ctx context.Context, by Actor, user string) (int, error) {
	n, err := accounts.RevokeDevices(ctx, a.backend, a.cfg.Realm, user, nil, "")
	if err != nil {
		return n, err
	}
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "devices_revoked", Subject: user, IP: by.IP, Detail: strconv.Itoa(n) + " devices"})
	return n, nil
}

// MailProgress is how far the setup emails of the policy in force have
// gone; nil when none were sent.
func (a *Admin) MailProgress(ctx context.Context) *notify.Progress {
	p := a.Policy()
	if a.cfg.Mailer == nil || p.Version == 0 || !p.Enabled {
		return nil
	}
	prog, err := a.cfg.Mailer.Progress(ctx, a.tell.setupJob(p))
	if err != nil || prog.Total == 0 {
		return nil
	}
	return &prog
}

func (a *Admin) audit(ctx context.Context, e accounts.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = a.cfg.Now()
	}
	if err := accounts.Audit(context.WithoutCancel(ctx), a.backend, a.cfg.Realm, e); err != nil {
		a.cfg.Logger.Warn("could not write an audit event", "action", e.Action, "error", err)
	}
}

func displayName(u *accounts.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}
