package notify

import (
	"errors"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/caddy2fa/caddy2fa/locale"
)

// ErrInvalidPhone is matched (errors.Is) by every NormalizePhone error. The
// error's own text is written for the person who typed the number and never
// repeats the number.
var ErrInvalidPhone = errors.New("invalid phone number")

// phoneError's text is English; PhoneErrorText says it in other words.
type phoneError string

func (e phoneError) Error() string        { return string(e) }
func (e phoneError) Is(target error) bool { return target == ErrInvalidPhone }

const (
	// Far above the longest real number with spacing (15 digits plus
	// separators), and low enough to bound parsing work on hostile input.
	maxPhoneInputLen = 32

	phoneExample = "for example +44 7700 900123"

	errPhoneEmpty   = phoneError("enter your phone number with its country code, " + phoneExample)
	errPhoneTooLong = phoneError("that is too long for a phone number; enter it with its country code, " + phoneExample)
	errPhoneChars   = phoneError("a phone number can contain only digits, spaces and + - ( ) . /")
	errPhoneCountry = phoneError("enter your number with its country code, " + phoneExample)
	errPhoneInvalid = phoneError("that doesn't look like a valid phone number; check it and include the country code, " + phoneExample)
)

var phoneErrorIDs = map[phoneError]string{
	errPhoneEmpty: "notify.phone.empty", errPhoneTooLong: "notify.phone.too_long", errPhoneChars: "notify.phone.chars",
	errPhoneCountry: "notify.phone.country", errPhoneInvalid: "notify.phone.invalid",
}

// PhoneErrorText is a NormalizePhone error in w's words (in lower case at
// first, as the English), or err's own text for any other error.
func PhoneErrorText(w *locale.Words, err error) string {
	var pe phoneError
	if errors.As(err, &pe) {
		if id, ok := phoneErrorIDs[pe]; ok {
			return w.T(id, "Example", "+44 7700 900123")
		}
	}
	return err.Error()
}

// NormalizePhone turns what a person typed into an E.164 number
// ("+15555550101"). A number without a leading '+' is read as a national
// number of defaultRegion (an ISO 3166 code such as "US"; empty means the
// country code is required). Letters (vanity numbers, extensions) are
// refused: codes are sent to mobile numbers, not to extensions.
func NormalizePhone(raw, defaultRegion string) (string, error) {
	if len(raw) > maxPhoneInputLen {
		return "", errPhoneTooLong
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errPhoneEmpty
	}
	international := strings.HasPrefix(s, "+")
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '/':
		default:
			return "", errPhoneChars
		}
	}
	if digits == 0 {
		return "", errPhoneEmpty
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if !international && region == "" {
		return "", errPhoneCountry
	}
	if international {
		region = "" // the number says its country
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || num.GetExtension() != "" || !phonenumbers.IsValidNumber(num) {
		return "", errPhoneInvalid
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	// E.164 allows 15 digits; the metadata accepts some longer numbers
	// (found by fuzzing: a German 16-digit number) that SMS gateways refuse.
	if len(out) > 16 {
		return "", errPhoneInvalid
	}
	return out, nil
}

// CountryCallingCode returns the country calling code of an E.164 number
// (1 for +15555550101, 44 for +447700900123), or 0 when it cannot be read.
func CountryCallingCode(e164 string) int {
	if !strings.HasPrefix(e164, "+") || len(e164) > maxPhoneInputLen {
		return 0
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return 0
	}
	return int(num.GetCountryCode())
}

// AllowedCountry reports whether SMS may be sent to e164 under a list of
// allowed country calling codes; an empty list allows every country. It
// lets operators keep SMS (and its cost and fraud risk) to the countries
// their people live in.
func AllowedCountry(e164 string, allowed []int) bool {
	if len(allowed) == 0 {
		return true
	}
	code := CountryCallingCode(e164)
	return code != 0 && slices.Contains(allowed, code)
}
