package notify

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/caddy2fa/caddy2fa/locale"
)

const (
	// smsMaxChars is one SMS segment of GSM-7 characters; longer messages
	// are split, cost more and can arrive out of order.
	smsMaxChars = 160
	// ucs2MaxUnits is one segment of a message with any character GSM-7
	// lacks (Arabic, say): UCS-2, 70 UTF-16 units.
	ucs2MaxUnits = 70
)

// smsAlphabet is how a message is written and measured: GSM-7, or UCS-2
// when the language's words need it.
type smsAlphabet struct {
	limit int
	clean func(string) string // what a value may carry into the message
	size  func(string) int
}

var (
	gsm7Alphabet = smsAlphabet{smsMaxChars, gsm7Only, utf8.RuneCountInString}
	ucs2Alphabet = smsAlphabet{ucs2MaxUnits, printable, func(s string) int { return len(utf16.Encode([]rune(s))) }}
)

// CodeSMS is the text message carrying a one-time code, in one segment:
// GSM-7 characters only for a language GSM-7 can write (accents it lacks
// are folded), else UCS-2 in 70 characters. The organisation's name is
// shortened, and the advice left out, when they would not fit.
func CodeSMS(m CodeMessage) string {
	w := m.Words
	code := gsm7Only(m.Code)
	var expiry string
	if m.Lifetime > 0 {
		expiry = " " + w.T("notify.sms.expires", "Duration", shortDuration(w, m.Lifetime))
	}
	advices := []string{" " + w.T("notify.sms.advice"), " " + w.T("notify.sms.advice_short"), ""}
	ours := w.T("notify.sms.org_code", "Org", "", "Code", code) + w.T("notify.sms.your_code", "Code", code) + expiry + strings.Join(advices, "")
	a := gsm7Alphabet
	if utf8.RuneCountInString(gsm7Only(ours)) < utf8.RuneCountInString(ours) {
		a = ucs2Alphabet // GSM-7 would drop letters, not just accents
	}
	expiry = a.clean(expiry)
	var originLine string
	if domain := strings.ToLower(strings.TrimSpace(m.Domain)); hostPattern.MatchString(domain) {
		originLine = "\n\n@" + domain + " #" + code
	}
	org := []rune(oneLine(a.clean(m.Org)))
	if len(org) > maxSMSOrgChars {
		org = org[:maxSMSOrgChars]
	}
	yours := a.clean(w.T("notify.sms.your_code", "Code", code))
	// Most complete first: the organisation's name (shortened if need be)
	// and all the advice; then less advice; then no name.
	for _, withOrg := range []bool{true, false} {
		for _, advice := range advices {
			rest := expiry + a.clean(advice) + originLine
			if withOrg {
				head := func(name string) string { return a.clean(w.T("notify.sms.org_code", "Org", name, "Code", code)) }
				if name := fitName(org, a.limit-a.size(head("")+rest), a.size); name != "" {
					return head(name) + rest
				}
			} else if a.size(yours+rest) <= a.limit {
				return yours + rest
			}
		}
	}
	// Only a domain or code far too long for any SMS gets here.
	return yours + expiry
}

const (
	// maxSMSOrgChars keeps the organisation's name from crowding out the rest.
	maxSMSOrgChars = 30
	// minSMSOrgChars: a name cut shorter than this is no longer recognisable.
	minSMSOrgChars = 8
)

// fitName returns org cut to room (as size counts), or "" when it does not
// fit recognisably.
func fitName(org []rune, room int, size func(string) int) string {
	if len(org) == 0 || room < minSMSOrgChars {
		return ""
	}
	for size(string(org)) > room {
		org = org[:len(org)-1]
	}
	return strings.TrimSpace(string(org))
}

// shortDuration is Duration for SMS: "10 min", "45 sec", "2 hours".
// Rounded down, so a message never promises more time than the code has.
func shortDuration(w *locale.Words, d time.Duration) string {
	switch {
	case d < time.Minute:
		return w.N("notify.sms.seconds", max(1, int(d/time.Second)))
	case d%time.Hour == 0:
		return w.N("notify.sms.hours", int(d/time.Hour))
	default:
		return w.N("notify.sms.minutes", int(d/time.Minute))
	}
}

// hostPattern accepts the ASCII host names WebOTP's origin-bound line takes
// (internationalised names in their xn-- form).
var hostPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// gsm7Basic is the GSM 03.38 basic character set (without the escape
// table, whose characters take two septets).
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Only keeps s to the GSM-7 basic set, since one other character would
// switch the whole SMS to UCS-2 and halve its length. Accented letters
// outside the set lose their accent (ï → i); other characters are dropped.
func gsm7Only(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(gsm7Basic, r) {
			return r
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		if base, _ := utf8.DecodeRuneInString(norm.NFD.String(string(r))); base != r && strings.ContainsRune(gsm7Basic, base) && base != '\n' && base != '\r' {
			return base
		}
		return -1
	}, s)
}

// printable is s without control and format characters (a UCS-2 message
// carries any letter, but a name must not carry a line break or turn the
// text's direction round); newlines of our own words are kept.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
}
