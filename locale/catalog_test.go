package locale

import (
	"slices"
	"testing"
	"time"
)

// Every shipped language has every English message, and no message
// English does not have (a stale key would never be shown).
func TestEveryShippedLanguageHasEveryMessage(t *testing.T) {
	c := Default()
	english := c.Messages(English)
	if len(english) < 20 {
		t.Fatalf("only %d English messages", len(english))
	}
	for _, lang := range c.Languages()[1:] {
		own := c.Messages(lang)
		for _, id := range english {
			if _, found := slices.BinarySearch(own, id); !found {
				t.Errorf("%s: missing %q", lang, id)
			}
		}
		for _, id := range own {
			if _, found := slices.BinarySearch(english, id); !found {
				t.Errorf("%s: %q is not an English message", lang, id)
			}
		}
	}
}

func TestShippedLanguages(t *testing.T) {
	got := Default().Languages()
	for _, want := range []string{"en", "de", "fr", "es", "ar"} {
		if !slices.Contains(got, want) {
			t.Errorf("languages %v lack %s", got, want)
		}
	}
	if Default().Words("ar").Dir() != "rtl" || Default().Words("de").Dir() != "ltr" {
		t.Error("Arabic is written right to left, German left to right")
	}
}

func TestChooseFollowsChoiceThenAcceptLanguageThenRealmDefault(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		chosen, accept, fallback, want string
	}{
		{"fr", "de", "es", "fr"},                     // the user's own choice first
		{"", "de-AT,de;q=0.9,en;q=0.5", "es", "de"},  // a region we lack: its language
		{"", "en;q=0.2, fr;q=0.8", "es", "fr"},       // by q-value, not by order
		{"", "xx, tlh;q=0.9", "es", "es"},            // nothing we speak: the realm's
		{"", "de;q=0, fr", "", "fr"},                 // q=0 means "not this"
		{"", "de;q=0", "", "en"},                     // only a refusal: English
		{"", "*", "de", "de"},                        // anything: the realm's
		{"", "", "", "en"},                           // nothing at all
		{"zz", "", "fr", "fr"},                       // a stale choice
		{"", "fr-CA", "", "fr"},                      // Canadian French reads French
		{"", ";;;,,,q=abc", "de", "de"},              // garbage
		{"", "es-419, es;q=0.9", "", "es"},           // Latin American Spanish
		{"", "ar-EG,ar;q=0.9,en-US;q=0.8", "", "ar"}, // Egyptian Arabic
		{"", "en-GB, de;q=0.9", "fr", "en"},          // British English
	} {
		if got := c.Choose(tc.chosen, tc.accept, tc.fallback).Lang(); got != tc.want {
			t.Errorf("Choose(%q, %q, %q) = %s, want %s", tc.chosen, tc.accept, tc.fallback, got, tc.want)
		}
	}
}

func TestPluralsDatesAndDurations(t *testing.T) {
	en := Default().Words("en")
	when := time.Date(2026, 12, 1, 14, 5, 0, 0, time.UTC)
	for got, want := range map[string]string{
		en.Duration(time.Minute):              "1 minute",
		en.Duration(10 * time.Minute):         "10 minutes",
		en.Duration(90 * time.Minute):         "90 minutes",
		en.Duration(3 * time.Hour):            "3 hours",
		en.Duration(72 * time.Hour):           "3 days",
		en.Duration(30 * time.Second):         "30 seconds",
		en.Duration(0):                        "1 second",
		en.Date(when):                         "1 December 2026",
		en.DateTime(when):                     "1 December 2026, 14:05 UTC",
		en.Number(1234567):                    "1,234,567",
		Default().Words("de").Number(1234567): "1.234.567",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	var none *Words
	if none.T("language.name") != "English" || none.Lang() != "en" {
		t.Error("a nil Words speaks English")
	}
	if en.T("no.such.message") != "no.such.message" {
		t.Error("a missing message reads as its id")
	}
	if got := en.H("language.name"); got != "English" {
		t.Errorf("H = %q", got)
	}
}

// Every plural message has every form its language's rules ask for: a
// missing one would show the message's id for some counts.
func TestEveryPluralFormIsWritten(t *testing.T) {
	c := Default()
	for _, lang := range c.Languages() {
		w := c.Words(lang)
		for _, id := range c.Messages(English) {
			if _, plural := c.Words(English).Forms(id)["one"]; !plural {
				continue
			}
			for _, n := range []int{0, 1, 2, 3, 5, 11, 21, 100, 102, 1000000} {
				if _, err := w.lookup(id, n, []any{"Count", "n", "Org", "Acme", "Left", "x", "Date", "x"}); err != nil {
					t.Errorf("%s: %s, count %d: %v", lang, id, n, err)
				}
			}
		}
	}
}
