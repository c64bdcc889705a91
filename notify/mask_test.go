package notify_test

import (
	"testing"

	"github.com/caddy2fa/caddy2fa/notify"
)

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"alice@acme.example":  "a***@acme.example",
		"a@acme.example":      "a***@acme.example",
		"Émile@acme.example":  "É***@acme.example",
		"@acme.example":       "***@acme.example",
		"not-an-address":      "***",
		"":                    "***",
		"we@ird@acme.example": "w***@acme.example",
	} {
		if got := notify.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskPhoneKeepsCountryCodeAndLastFourDigits(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+15555554567":   "+1******4567",
		"+447700900123":  "+44******0123",
		"+4915123456789": "+49*******6789",
		"+35312345678":   "+353****5678", // three-digit country code
		"+9991234567":    "+9*****4567",  // no such country code: '+' and one digit
		"+12345":         "+1****",       // too short to show the end as well
		"":               "***",
	} {
		if got := notify.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
