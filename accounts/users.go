package accounts

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/recovery"
	"github.com/caddy2fa/caddy2fa/store"
)

// User is one account of a realm, as the gateway knows it.
type User struct {
	ID     string   `json:"id"`
	Email  string   `json:"email,omitempty"`
	Phone  string   `json:"phone,omitempty"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Methods the user has enrolled, at most one per method.
	Methods []Enrollment `json:"methods,omitempty"`
	// Preferred is the method verification starts with.
	Preferred string `json:"preferred,omitempty"`
	// Epoch changes whenever every session and device of the user must
	// end (reset, method change). Cookies carry the epoch they were issued
	// under.
	Epoch        uint64    `json:"epoch"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	LastVerified time.Time `json:"last_verified,omitzero"`
	// TOTPStep is the last authenticator time step accepted: a code from it
	// or an earlier one is a replay, in any session and on any instance.
	TOTPStep int64 `json:"totp_step,omitempty"`
	// PasskeyHandle is the user's WebAuthn user handle: 64 random bytes,
	// drawn at their first passkey (never the user id).
	PasskeyHandle []byte `json:"passkey_handle,omitempty"`
	// Passkeys are the user's passkeys and security keys.
	Passkeys []passkey.Key `json:"passkeys,omitempty"`
	// Recovery holds the keyed hashes of the user's recovery codes.
	Recovery *recovery.Set `json:"recovery,omitempty"`
	// Language is the language the user chose ("" none); SeenLanguage that
	// of their last page, which their emails use until they choose.
	Language     string `json:"language,omitempty"`
	SeenLanguage string `json:"seen_language,omitempty"`
	// EverEnrolled: the user had a method once (a reset does not make them
	// new: they are never given time to set up again).
	EverEnrolled bool `json:"ever_enrolled,omitempty"`
	// Rollout is the user's time to set up, under the current enabling of
	// the policy; nil when never given any.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// Rollout is a user's time to set up two-factor authentication, under one
// enabling of the policy.
type Rollout struct {
	// Since is the policy's EnabledAt it belongs to: an enabling after it
	// starts afresh.
	Since time.Time `json:"since"`
	// Started is the user's first sign-in after 2FA was turned on (zero:
	// not yet).
	Started time.Time `json:"started,omitzero"`
	// Deadline is when setup becomes required. It never moves earlier.
	Deadline time.Time `json:"deadline,omitzero"`
	// Skips counts the times the user put setup off.
	Skips int `json:"skips,omitempty"`
	// Reminded holds a bit per reminder sent, so each goes once.
	Reminded uint8 `json:"reminded,omitempty"`
	// ExtendedBy is the admin who last moved the deadline.
	ExtendedBy string `json:"extended_by,omitempty"`
}

// Lang is the language to write to the user in: their choice, else their
// last page's ("": not known, the realm's default).
func (u *User) Lang() string {
	if u.Language != "" {
		return u.Language
	}
	return u.SeenLanguage
}

// Enrollment is one enrolled method.
type Enrollment struct {
	Method string `json:"method"`
	// Target is the address codes go to (email or E.164 phone); empty for TOTP.
	Target string `json:"target,omitempty"`
	// Secret is the TOTP seed, sealed with the realm's at-rest key (never clear).
	Secret     []byte    `json:"secret,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// LastUsed is the last time the method passed a challenge.
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Enrollment returns the user's enrollment of a method, if any.
func (u *User) Enrollment(method string) (Enrollment, bool) {
	for _, e := range u.Methods {
		if e.Method == method {
			return e, true
		}
	}
	return Enrollment{}, false
}

// SetEnrollment adds or replaces the enrollment of e.Method.
func (u *User) SetEnrollment(e Enrollment) {
	u.EverEnrolled = true
	for i := range u.Methods {
		if u.Methods[i].Method == e.Method {
			u.Methods[i] = e
			return
		}
	}
	u.Methods = append(u.Methods, e)
}

// RemoveEnrollment drops the user's enrollment of a method.
func (u *User) RemoveEnrollment(method string) {
	u.Methods = slices.DeleteFunc(u.Methods, func(e Enrollment) bool { return e.Method == method })
	if u.Preferred == method {
		u.Preferred = ""
	}
}

// Used records that the method passed a challenge at now.
func (u *User) Used(method string, now time.Time) {
	for i := range u.Methods {
		if u.Methods[i].Method == method {
			u.Methods[i].LastUsed = now.UTC()
		}
	}
	u.LastVerified = now.UTC()
}

// Enrolled reports whether the user has any method enrolled.
func (u *User) Enrolled() bool { return len(u.Methods) > 0 }

// GetUser reads a user; store.ErrNotFound when the gateway has never seen
// them.
func GetUser(ctx context.Context, b store.Backend, realm, id string) (*User, error) {
	u := new(User)
	if err := store.GetJSON(ctx, b, Keys{realm}.User(id), u); err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUser atomically edits a user, creating it (ID set, FirstSeen now)
// when absent. fn may return ErrAbort to leave the record unchanged.
func UpdateUser(ctx context.Context, b store.Backend, realm, id string, fn func(u *User) error) (*User, error) {
	return store.UpdateJSON(ctx, b, Keys{realm}.User(id), func(u *User, exists bool) (time.Duration, error) {
		if !exists {
			u.ID = id
			u.FirstSeen = time.Now().UTC()
		}
		return 0, fn(u)
	})
}

// RememberUser records what the identity source says about a user, so
// admins can list them and reach them by email. Written only when
// something changed (and at most hourly for last seen).
func RememberUser(ctx context.Context, b store.Backend, realm string, id identity.Identity, now time.Time) (*User, error) {
	now = now.UTC()
	return UpdateUser(ctx, b, realm, id.ID, func(u *User) error {
		changed := u.LastSeen.IsZero() || now.Sub(u.LastSeen) > time.Hour
		set := func(dst *string, v string) {
			if v != "" && *dst != v {
				*dst, changed = v, true
			}
		}
		set(&u.Email, id.Email)
		set(&u.Phone, id.Phone)
		set(&u.Name, id.Name)
		if len(id.Groups) > 0 && !slices.Equal(u.Groups, id.Groups) {
			u.Groups, changed = id.Groups, true
		}
		if !changed {
			return store.ErrAbort
		}
		u.LastSeen = now
		return nil
	})
}

// UserRecords pages through the realm's user records: up to limit after
// the ID after, and the ID to go on from ("" after the last).
func UserRecords(ctx context.Context, b store.Backend, realm, after string, limit int) ([]User, string, error) {
	entries, err := b.List(ctx, Keys{Realm: realm}.UsersBucket(), after, limit, false)
	if err != nil {
		return nil, "", err
	}
	out := make([]User, 0, len(entries))
	for _, e := range entries {
		var u User
		if json.Unmarshal(e.Value, &u) == nil {
			out = append(out, u)
		}
	}
	next := ""
	if len(entries) == limit {
		next = entries[len(entries)-1].ID
	}
	return out, next, nil
}
