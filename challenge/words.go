package challenge

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
)

// The words the pages use for methods, durations and people.

var methodNames = policy.Names

var methodDescriptions = map[string]string{
	policy.MethodWebAuthn: "Use your phone's or computer's screen lock, or a security key such as a YubiKey. Nothing to type, and it can't be phished.",
	policy.MethodTOTP:     "Use an app such as Google Authenticator, Microsoft Authenticator, 1Password or Authy to get a code.",
	policy.MethodEmail:    "Get a code by email.",
	policy.MethodSMS:      "Get a code by text message.",
}

// verifyTitle is a verify page's title: a step-up asks the user to
// confirm it's them, for a change or a step-up path of the app.
func verifyTitle(f *accounts.Flow) string {
	if f.StepUp {
		return "Confirm it's you"
	}
	return "Enter your code"
}

// MethodName is a method's name as users read it.
func MethodName(method string) string { return methodNames[method] }

// seconds says a short duration in words: "30 seconds", "1 second".
func seconds(d time.Duration) string {
	n := max(1, int(d.Round(time.Second)/time.Second))
	return fmt.Sprintf("%d %s", n, plural(n, "second", "seconds"))
}

// minutes says a code lifetime in words: "10 minutes", "1 minute".
func minutes(d time.Duration) string {
	n := int(d.Round(time.Minute) / time.Minute)
	if n < 1 {
		return seconds(d)
	}
	return fmt.Sprintf("%d %s", n, plural(n, "minute", "minutes"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
