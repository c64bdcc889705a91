package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/store"
)

// Limits tune the abuse limits; zero values keep the defaults.
type Limits struct {
	// CodeLifetime is how long a sent code works. Default 10m, at most 15m.
	CodeLifetime caddy.Duration `json:"code_lifetime,omitempty"`
	// CodeAttempts are the wrong codes one challenge allows. Default 5, at
	// most 10.
	CodeAttempts int `json:"code_attempts,omitempty"`
	// UserFailures code attempts per user within UserWindow hold code
	// entry, across challenges and sessions. Default 10, at most 50.
	UserFailures int `json:"user_failures,omitempty"`
	// UserWindow is UserFailures' window. Default 15m.
	UserWindow caddy.Duration `json:"user_window,omitempty"`
	// IPFailures code attempts per client network (an IPv4 address or an
	// IPv6 /64) within IPWindow, across accounts, hold that network.
	// Default 30, at most 500.
	IPFailures int `json:"ip_failures,omitempty"`
	// IPWindow is IPFailures' window. Default 10m.
	IPWindow caddy.Duration `json:"ip_window,omitempty"`
	// EmailCooldown is the wait between two emailed codes to one user.
	// Default 30s.
	EmailCooldown caddy.Duration `json:"email_cooldown,omitempty"`
	// SMSCooldown is the wait between two texted codes to one user.
	// Default 60s.
	SMSCooldown caddy.Duration `json:"sms_cooldown,omitempty"`
	// EmailPerHour caps emailed codes per user per hour. Default 5, at
	// most 60.
	EmailPerHour int `json:"email_per_hour,omitempty"`
	// SMSPerHour caps texted codes per user per hour. Default 5, at most
	// 20.
	SMSPerHour int `json:"sms_per_hour,omitempty"`
	// SMSPerDay caps texts per user, and per number across users, per
	// day. Default 10, at most 50.
	SMSPerDay int `json:"sms_per_day,omitempty"`
}

func (l *Limits) validate() error {
	switch {
	case l == nil:
		return nil
	case l.CodeAttempts < 0 || l.UserFailures < 0 || l.IPFailures < 0 || l.EmailPerHour < 0 || l.SMSPerHour < 0 || l.SMSPerDay < 0:
		return errors.New("limits must not be negative")
	case l.SMSPerDay > 50 || l.SMSPerHour > 20 || l.EmailPerHour > 60:
		return errors.New("limits: send caps that high invite SMS pumping and mail bombing (at most sms_per_day 50, sms_per_hour 20, email_per_hour 60)")
	case time.Duration(l.CodeLifetime) > 15*time.Minute:
		return errors.New("limits: a code lifetime above 15 minutes gives guessing too much time")
	case l.CodeAttempts > 10:
		return errors.New("limits: more than 10 code attempts per challenge weakens brute-force protection")
	case l.UserFailures > 50 || l.IPFailures > 500:
		return errors.New("limits: failure limits that high weaken brute-force protection")
	}
	return nil
}

// Validate checks the site's configuration.
func (h *Handler) Validate() error {
	if _, err := gate.NewBypass(h.Bypass); err != nil {
		return err
	}
	lifetime := cmp.Or(time.Duration(h.SessionLifetime), 12*time.Hour)
	if f := time.Duration(h.FreshFor); f != 0 && (f < time.Minute || f > lifetime) {
		return fmt.Errorf("fresh_for %v: use at least 1m and at most the session lifetime (%v)", f, lifetime)
	}
	switch h.IDCase {
	case "", "exact", "insensitive":
	default:
		return fmt.Errorf("id_case %q: use exact (the default) or insensitive", h.IDCase)
	}
	if err := h.Limits.validate(); err != nil {
		return err
	}
	if _, err := freshRules(h.Fresh); err != nil {
		return err
	}
	if err := h.Assertion.validate(h.SiteURL); err != nil {
		return err
	}
	if h.SiteURL != "" {
		u, err := url.Parse(h.SiteURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("site_url %q: use the site's public URL, such as https://app.example.com", h.SiteURL)
		}
	}
	return nil
}

// prefix is the path prefix in its clean form.
func (h *Handler) prefix() string {
	return "/" + strings.Trim(cmp.Or(h.PathPrefix, "/.2fa"), "/")
}

// newLook is the site's look for the organisation org, in the realm's
// default language lang, remembering users' languages in langs (nil:
// none): it refuses a logo or accent it cannot use.
func (h *Handler) newLook(org, lang string, langs pages.LanguageStore) (*pages.Site, error) {
	brand, err := h.branding()
	if err != nil {
		return nil, err
	}
	var event func(string)
	if h.metrics != nil {
		event = h.metrics.event
	}
	return pages.New(pages.Config{
		Prefix: h.prefix(), Org: cmp.Or(org, "caddy2fa"), Brand: brand, Logger: h.slogger, OnEvent: event,
		Catalog: h.app.messages(), Language: lang, Languages: langs,
	})
}

// watchUsersFile imports the users file now and whenever it changes,
// until ctx ends.
func (h *Handler) watchUsersFile(ctx context.Context, b store.Backend, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	var seen time.Time
	for {
		if fi, err := os.Stat(h.UsersFile); err != nil {
			h.logger.Error("cannot read users_file", zap.String("path", h.UsersFile), zap.Error(err))
		} else if !fi.ModTime().Equal(seen) {
			entries, err := accounts.ReadDirectoryFile(h.UsersFile)
			if err == nil {
				var n int
				n, err = accounts.ImportDirectory(ctx, b, realmOr(h.Realm), entries)
				h.logger.Info("users_file imported", zap.String("path", h.UsersFile), zap.Int("users", len(entries)), zap.Int("changed", n))
			}
			if err != nil {
				h.logger.Error("users_file import failed", zap.String("path", h.UsersFile), zap.Error(err))
			} else {
				seen = fi.ModTime()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
