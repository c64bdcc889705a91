// Package policy is the organisation's two-factor policy: the model, its
// validation, where it is stored, an in-memory snapshot for the hot path,
// and the pure decision whether a request needs a challenge.
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Methods of second factor, as stored and as used in URLs.
const (
	MethodWebAuthn = "webauthn"
	MethodTOTP     = "totp"
	MethodEmail    = "email"
	MethodSMS      = "sms"
	// MethodRecovery is the recovery codes: never a user's only method,
	// offered beside the others unless the policy turns them off.
	MethodRecovery = "recovery"
)

// Names are the methods as users read them, on pages and in emails.
var Names = map[string]string{
	MethodWebAuthn: "Passkey or security key",
	MethodTOTP:     "Authenticator app",
	MethodEmail:    "Email",
	MethodSMS:      "Text message (SMS)",
	MethodRecovery: "Recovery codes",
}

// AllMethods lists the methods in the order pages offer them, the
// strongest first.
var AllMethods = []string{MethodWebAuthn, MethodTOTP, MethodEmail, MethodSMS}

// MaxRememberDays bounds the remember-me duration admins may set.
const MaxRememberDays = 90

// Policy is one realm's org-wide setting.
type Policy struct {
	// Enabled means every user of the realm must pass 2FA.
	Enabled bool `json:"enabled"`
	// Methods users may enroll and verify with.
	Methods []string `json:"methods"`
	// RememberDays is how long a trusted device skips the challenge; 0 = off.
	RememberDays int `json:"remember_days"`
	// RecoveryCodesOff stops offering recovery codes (users who have some
	// can no longer use them).
	RecoveryCodesOff bool `json:"recovery_codes_off,omitempty"`
	// Rollout gives users without a method time to set one up.
	Rollout Rollout `json:"rollout,omitzero"`
	// Version increases with every stored change; 0 means "never stored"
	// (the configured initial policy).
	Version   int64     `json:"version"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// EnabledAt is when 2FA was last turned on.
	EnabledAt time.Time `json:"enabled_at,omitzero"`
}

// Availability says which methods the operator can deliver.
type Availability struct {
	Email    bool // an email sender is configured
	SMS      bool // an SMS sender is configured (a paid add-on)
	WebAuthn bool // every site of the realm has a site_url to bind passkeys to
}

// Offers reports whether the operator can deliver the method (TOTP needs
// nothing delivered).
func (a Availability) Offers(method string) bool {
	switch method {
	case MethodTOTP:
		return true
	case MethodWebAuthn:
		return a.WebAuthn
	case MethodEmail:
		return a.Email
	case MethodSMS:
		return a.SMS
	}
	return false
}

// ErrSMSUnavailable: a policy asks for SMS but no SMS sender is configured.
var ErrSMSUnavailable = errors.New("SMS verification is a paid add-on that is not enabled for this organization; ask your account manager to enable SMS")

// ErrWebAuthnUnavailable: passkeys are bound to the site's address, so
// every site of the realm must say what it is.
var ErrWebAuthnUnavailable = errors.New("passkeys and security keys need site_url on every site of the realm")

// Validate checks the policy against what the operator can deliver.
func (p Policy) Validate(avail Availability) error {
	if p.Enabled && len(p.Methods) == 0 {
		return errors.New("choose at least one verification method")
	}
	seen := map[string]bool{}
	for _, m := range p.Methods {
		if !slices.Contains(AllMethods, m) {
			return fmt.Errorf("unknown verification method %q (use %s)", m, strings.Join(AllMethods, ", "))
		}
		if seen[m] {
			return fmt.Errorf("verification method %q listed twice", m)
		}
		seen[m] = true
		if m == MethodSMS && !avail.SMS {
			return ErrSMSUnavailable
		}
		if m == MethodEmail && !avail.Email {
			return errors.New("email verification needs an email sender (email ses or email outbox)")
		}
		if m == MethodWebAuthn && !avail.WebAuthn {
			return ErrWebAuthnUnavailable
		}
	}
	if p.RememberDays < 0 || p.RememberDays > MaxRememberDays {
		return fmt.Errorf("remember me must be between 0 (off) and %d days", MaxRememberDays)
	}
	return p.Rollout.validate()
}

// Allows reports whether users may use the method.
func (p Policy) Allows(method string) bool { return slices.Contains(p.Methods, method) }

// OffersRecovery reports whether users get recovery codes.
func (p Policy) OffersRecovery() bool { return !p.RecoveryCodesOff }

// PhishingResistant: passkeys and security keys are the only method, so a
// code typed into a look-alike site is worth nothing.
func (p Policy) PhishingResistant() bool {
	return len(p.Methods) == 1 && p.Methods[0] == MethodWebAuthn
}

// RememberFor is the remember-me duration, 0 when off.
func (p Policy) RememberFor() time.Duration {
	return time.Duration(p.RememberDays) * 24 * time.Hour
}

// Ordered returns the allowed methods in display order.
func (p Policy) Ordered() []string {
	var out []string
	for _, m := range AllMethods {
		if p.Allows(m) {
			out = append(out, m)
		}
	}
	return out
}

// Key is where a realm's policy is stored.
func Key(realm string) store.Key { return store.Key{Bucket: "policy", ID: realm} }

// Load reads the stored policy; found is false when none was ever stored.
func Load(ctx context.Context, b store.Backend, realm string) (p Policy, found bool, err error) {
	err = store.GetJSON(ctx, b, Key(realm), &p)
	if errors.Is(err, store.ErrNotFound) {
		return Policy{}, false, nil
	}
	return p, err == nil, err
}

// ErrStale: the policy changed since the version a change was based on.
var ErrStale = errors.New("the policy was changed by someone else in the meantime; review the current settings and try again")

// Replace stores next if the stored version still equals base (0 when none
// is stored), giving next the following version, and notifies every
// instance. It returns the stored policy. configured is the policy in force
// while none is stored: a first change over an enabled configured policy
// keeps its enabling (a zero EnabledAt: since the server was configured),
// so rollouts, reminders and grandfathered sessions do not start again.
func Replace(ctx context.Context, b store.Backend, realm string, base int64, next, configured Policy) (Policy, error) {
	var stored Policy
	_, err := store.UpdateJSON(ctx, b, Key(realm), func(cur *Policy, exists bool) (time.Duration, error) {
		if cur.Version != base {
			return 0, ErrStale
		}
		was := *cur
		if !exists {
			was = configured
		}
		next.Version = base + 1
		switch {
		case next.Enabled && !was.Enabled:
			next.EnabledAt = next.ChangedAt // turned on now
		case next.Enabled:
			next.EnabledAt = was.EnabledAt
		}
		*cur = next
		stored = next
		return 0, nil
	})
	if err != nil {
		return Policy{}, err
	}
	store.Announce(ctx, b, store.Change{Kind: store.ChangePolicy, Realm: realm})
	return stored, nil
}
