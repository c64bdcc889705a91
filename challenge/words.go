package challenge

import (
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
)

// The words the pages use for methods, durations and people.

// methodNames are the methods' English names, for audit records and logs;
// pages say MethodName.
var methodNames = policy.Names

// methodDescriptions says what a method is, under its name where one is
// chosen to set up.
func methodDescriptions(t *locale.Words, method string) string {
	return t.T("challenge.method_about." + method)
}

// verifyTitle is the message id of a verify page's title: a step-up asks
// the user to confirm it's them, for a change or a step-up path of the app.
func verifyTitle(f *accounts.Flow) string {
	if f.StepUp {
		return "challenge.verify.title_step_up"
	}
	return "challenge.verify.title"
}

// MethodName is a method's name as users read it.
func MethodName(t *locale.Words, method string) string { return t.T("method." + method) }

// seconds says a short duration in words: "30 seconds", "1 second".
func seconds(t *locale.Words, d time.Duration) string {
	return t.N("duration.seconds", max(1, int(d.Round(time.Second)/time.Second)))
}

// minutes says a code lifetime in words: "10 minutes", "1 minute"; in
// minutes however long, as the pages have always said it.
func minutes(t *locale.Words, d time.Duration) string {
	n := int(d.Round(time.Minute) / time.Minute)
	if n < 1 {
		return seconds(t, d)
	}
	return t.N("duration.minutes", n)
}

func displayName(u *accounts.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

func accountName(u *accounts.User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.ID
}

// groupKey writes a base32 key in groups of four for typing.
func groupKey(k string) string {
	var b strings.Builder
	for i, c := range k {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
