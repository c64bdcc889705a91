package orgadmin

import (
	"errors"
	"slices"
	"strings"

	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
)

// summaryText is a policy in one sentence of t's language, for the pages
// and the policy-changed email (the audit log keeps policy.Summary, in
// English, for everyone who reads it later).
func summaryText(t *locale.Words, p policy.Policy) string {
	if !p.Enabled {
		return t.T("orgadmin.summary.off")
	}
	parts := []string{t.T("orgadmin.summary.on", "Methods", methodList(t, p.Ordered()))}
	if p.RememberDays > 0 {
		parts = append(parts, t.N("orgadmin.summary.remember_days", p.RememberDays))
	} else {
		parts = append(parts, t.T("orgadmin.summary.remember_off"))
	}
	if p.RecoveryCodesOff {
		parts = append(parts, t.T("orgadmin.summary.recovery_off"))
	}
	if r := p.Rollout; r.Gives() {
		skips := t.N("orgadmin.summary.skips", r.Skips)
		if r.Mode == policy.SetupByDate {
			date := r.Date
			if day, err := r.LastDay(); err == nil {
				date = t.Date(day)
			}
			parts = append(parts, t.T("orgadmin.summary.rollout_date", "Date", date, "Skips", skips))
		} else {
			parts = append(parts, t.T("orgadmin.summary.rollout_days", "Days", t.N("orgadmin.summary.days", r.Days), "Skips", skips))
		}
	}
	return strings.Join(parts, t.T("orgadmin.summary.separator"))
}

// methodList names methods as users read them, in the language's list.
func methodList(t *locale.Words, methods []string) string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = t.T("method." + m)
	}
	return strings.Join(names, t.T("orgadmin.list_separator"))
}

// invalidReason is the message of a policy Validate refused, found by
// checking the policy in Validate's own order (its errors carry no id);
// "" when the reason is none we know, which then shows in English.
func invalidReason(p policy.Policy, avail policy.Availability, err error) (id string, args []any) {
	named := []struct {
		err error
		id  string
	}{
		{policy.ErrSMSUnavailable, "orgadmin.invalid.sms_unavailable"},
		{policy.ErrWebAuthnUnavailable, "orgadmin.invalid.webauthn_unavailable"},
		{policy.ErrRolloutDate, "orgadmin.invalid.rollout_date"},
		{policy.ErrRolloutDays, "orgadmin.invalid.rollout_days"},
		{policy.ErrRolloutSkips, "orgadmin.invalid.rollout_skips"},
	}
	for _, n := range named {
		if errors.Is(err, n.err) {
			return n.id, []any{"Max", maxOf(n.err)}
		}
	}
	if p.Enabled && len(p.Methods) == 0 {
		return "orgadmin.invalid.no_method", nil
	}
	seen := map[string]bool{}
	for _, m := range p.Methods {
		switch {
		case !slices.Contains(policy.AllMethods, m):
			return "orgadmin.invalid.unknown_method", []any{"Method", m, "Known", strings.Join(policy.AllMethods, ", ")}
		case seen[m]:
			return "orgadmin.invalid.method_twice", []any{"Method", m}
		case m == policy.MethodEmail && !avail.Email:
			return "orgadmin.invalid.email_unavailable", nil
		}
		seen[m] = true
	}
	if p.RememberDays < 0 || p.RememberDays > policy.MaxRememberDays {
		return "orgadmin.invalid.remember_days", []any{"Max", policy.MaxRememberDays}
	}
	return "", nil
}

// maxOf is the bound a named error speaks of.
func maxOf(err error) int {
	switch err {
	case policy.ErrRolloutDays:
		return policy.MaxSetupDays
	case policy.ErrRolloutSkips:
		return policy.MaxSetupSkips
	}
	return 0
}
