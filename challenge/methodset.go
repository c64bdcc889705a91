package challenge

import (
	"slices"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
)

// methodSet says which methods a user may use: those the org policy
// allows and the operator can deliver.
type methodSet struct {
	policy   *policy.Snapshot
	codes    *sentcode.Sender
	recovery *recoveryCodes
	passkeys bool // the site can take passkeys (it has a site_url)
	prefix   string
}

// available reports whether the operator can deliver the method.
func (ms *methodSet) available(method string) bool {
	switch method {
	case policy.MethodTOTP:
		return true
	case policy.MethodWebAuthn:
		return ms.passkeys
	}
	return ms.codes.Can(method)
}

// strongest is the usable method a step-up asks for: the first in
// policy.AllMethods' order, strongest first.
func (ms *methodSet) strongest(u *accounts.User) (string, bool) {
	usable := ms.usable(u)
	if len(usable) == 0 {
		return "", false
	}
	return usable[0], true
}

// allowed: the policy allows the method and it can be delivered.
func (ms *methodSet) allowed(method string) bool {
	return ms.policy.Current().Allows(method) && ms.available(method)
}

// usable are the user's enrolled methods the policy still allows.
func (ms *methodSet) usable(u *accounts.User) []string {
	var out []string
	for _, m := range ms.policy.Current().Ordered() {
		if _, ok := u.Enrollment(m); ok && ms.available(m) {
			out = append(out, m)
		}
	}
	return out
}

// toEnrollIn are the methods the user may set up, for the choice pages,
// named in t's language.
func (ms *methodSet) toEnrollIn(t *locale.Words, except []string) []methodChoice {
	var out []methodChoice
	for _, m := range ms.policy.Current().Ordered() {
		if ms.available(m) && !slices.Contains(except, m) {
			out = append(out, methodChoice{Method: m, Name: t.T("method." + m), Description: methodDescriptions(t, m), URL: ms.prefix + "/enroll/" + m})
		}
	}
	return out
}

// othersIn offers "Try another method" on a verify page, recovery codes
// last, named in t's language.
func (ms *methodSet) othersIn(t *locale.Words, u *accounts.User, current string) []methodChoice {
	var out []methodChoice
	usable := ms.usable(u)
	for _, m := range usable {
		if m != current {
			out = append(out, methodChoice{Method: m, Name: t.T("method." + m), URL: ms.prefix + "/verify/" + m})
		}
	}
	if current != policy.MethodRecovery && len(usable) > 0 && ms.recovery.left(u) > 0 {
		out = append(out, methodChoice{Method: policy.MethodRecovery, Name: t.T("account.recovery_verify.title"), URL: ms.prefix + "/verify/recovery"})
	}
	return out
}

type methodChoice struct {
	Method, Name, Description, URL string
}
