package notify

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaskEmail hides an address for logs, errors and "we sent a code to ..."
// pages: the first character of the mailbox and the whole domain stay
// ("alice@acme.example" → "a***@acme.example").
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "***"
	}
	local, domain := addr[:at], addr[at+1:]
	first, size := utf8.DecodeRuneInString(local)
	if size == 0 || first == utf8.RuneError {
		return "***@" + domain
	}
	return string(first) + "***@" + domain
}

// MaskPhone hides an E.164 number, keeping the country code and the last
// four digits ("+15555554567" → "+1******4567"). When the country code
// cannot be read, only '+' and the first digit stay in front.
func MaskPhone(e164 string) string {
	var digits strings.Builder
	for _, r := range e164 {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	d := digits.String()
	if d == "" {
		return "***"
	}
	keepFront := 1
	if strings.HasPrefix(e164, "+") && len(e164) <= maxPhoneInputLen {
		if num, err := phonenumbers.Parse(e164, ""); err == nil {
			if cc := strconv.Itoa(int(num.GetCountryCode())); strings.HasPrefix(d, cc) {
				keepFront = len(cc)
			}
		}
	}
	const keepBack = 4
	if len(d) <= keepFront+keepBack {
		// Too short to show anything but the front without revealing it all.
		if len(d) <= keepFront {
			return "+" + strings.Repeat("*", len(d))
		}
		return "+" + d[:keepFront] + strings.Repeat("*", len(d)-keepFront)
	}
	return "+" + d[:keepFront] + strings.Repeat("*", len(d)-keepFront-keepBack) + d[len(d)-keepBack:]
}
