package notify_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/notify"
)

func TestNormalizePhoneAcceptsRealNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, region, want string }{
		{"+1 650 253 0000", "", "+16502530000"},
		{"(650) 253-0000", "US", "+16502530000"},
		{"650.253.0000", "us", "+16502530000"},
		{"+44 20 7946 0958", "", "+442079460958"},
		{"020 7946 0958", "GB", "+442079460958"},
		{"+49 30 901820", "", "+4930901820"},
		{"030 901820", "DE", "+4930901820"},
		{"0049 30 901820", "DE", "+4930901820"},
		{"+49 1512 3456789", "US", "+4915123456789"}, // '+' wins over the default region
		{"  +1 650 253 0000  ", "", "+16502530000"},
	} {
		got, err := notify.NormalizePhone(tc.raw, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q", tc.raw, tc.region, got, err, tc.want)
		}
	}
}

func TestNormalizePhoneRefusesWithAdviceAndWithoutEcho(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, region, advice string }{
		{"", "US", "country code"},
		{"   ", "US", "country code"},
		{"650 253 0000", "", "country code"}, // no '+' and no default region
		{"+1 555 555 0101", "", "valid"},     // fictional 555 number
		{"+999 123456", "", "valid"},         // no such country
		{"+12", "", "valid"},
		{"1-800-FLOWERS", "US", "only digits"},
		{"+1 650 253 0000 ext. 12", "", "only digits"},
		{"+1 650 253 0000;ext=12", "", "only digits"},
		{"+١٦٥٠٢٥٣٠٠٠٠", "", "only digits"}, // non-ASCII digits
		{"+1 650 253 0000 0000 0000 0000 00", "", "too long"},
		{strings.Repeat("1", 1000), "US", "too long"},
	} {
		got, err := notify.NormalizePhone(tc.raw, tc.region)
		if err == nil {
			t.Errorf("NormalizePhone(%q, %q) = %q, want an error", tc.raw, tc.region, got)
			continue
		}
		if !errors.Is(err, notify.ErrInvalidPhone) {
			t.Errorf("NormalizePhone(%q) error %v does not match ErrInvalidPhone", tc.raw, err)
		}
		if !strings.Contains(err.Error(), tc.advice) {
			t.Errorf("NormalizePhone(%q) error %q, want it to mention %q", tc.raw, err, tc.advice)
		}
		if digits := strings.TrimSpace(tc.raw); len(digits) > 4 && strings.Contains(err.Error(), digits) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

func TestCountryCallingCodeAndAllowedCountry(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"+16502530000": 1, "+442079460958": 44, "+4930901820": 49, "+35312345678": 353, "": 0, "16502530000": 0, "+": 0} {
		if got := notify.CountryCallingCode(in); got != want {
			t.Errorf("CountryCallingCode(%q) = %d, want %d", in, got, want)
		}
	}
	for _, tc := range []struct {
		number  string
		allowed []int
		want    bool
	}{
		{"+16502530000", nil, true},
		{"+16502530000", []int{1, 44}, true},
		{"+442079460958", []int{1, 44}, true},
		{"+4930901820", []int{1, 44}, false},
		{"garbage", []int{1, 44}, false},
	} {
		if got := notify.AllowedCountry(tc.number, tc.allowed); got != tc.want {
			t.Errorf("AllowedCountry(%q, %v) = %v, want %v", tc.number, tc.allowed, got, tc.want)
		}
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

func FuzzNormalizePhone(f *testing.F) {
	for _, seed := range []string{"+1 650 253 0000", "(650) 253-0000", "+44 20 7946 0958", "030 901820", "+", "", "1-800-FLOWERS", "+999", "00000000000000000000000000000000"} {
		f.Add(seed, "US")
		f.Add(seed, "DE")
		f.Add(seed, "")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := notify.NormalizePhone(raw, region)
		if err != nil {
			if !errors.Is(err, notify.ErrInvalidPhone) {
				t.Fatalf("error %v does not match ErrInvalidPhone", err)
			}
			if got != "" {
				t.Fatalf("error %v with a result %q", err, got)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizePhone(%q, %q) = %q, not E.164", raw, region, got)
		}
		again, err := notify.NormalizePhone(got, "")
		if err != nil || again != got {
			t.Fatalf("normalising %q again gave %q, %v", got, again, err)
		}
		if notify.CountryCallingCode(got) == 0 {
			t.Fatalf("no country code in %q", got)
		}
		if masked := notify.MaskPhone(got); strings.Contains(masked, got[1:]) {
			t.Fatalf("MaskPhone(%q) = %q reveals it", got, masked)
		}
	})
}
