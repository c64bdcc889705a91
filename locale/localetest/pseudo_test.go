package localetest

import (
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"

	"github.com/caddy2fa/caddy2fa/locale"
)

func TestPseudoLocaleMarksEveryMessageAndKeepsPlaceholders(t *testing.T) {
	c, err := locale.New(fstest.MapFS{PseudoTag + ".toml": {Data: Pseudo(locale.Default())}})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Words(PseudoTag)
	if w.Lang() != PseudoTag {
		t.Fatalf("pseudo-locale reads as %s", w.Lang())
	}
	english := locale.Default().Messages(locale.English)
	if got := c.Messages(PseudoTag); len(got) != len(english) {
		t.Fatalf("%d pseudo messages for %d English ones", len(got), len(english))
	}
	for _, id := range english {
		if id == "language.direction" || strings.HasPrefix(id, "format.") && id != "format.month.1" {
			continue
		}
		s := w.N(id, 3, "Org", "XYZ", "Date", "1", "What", "Q", "Left", "2")
		s = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(s, "")
		if !strings.HasPrefix(s, Open) || !strings.HasSuffix(s, Close) {
			t.Errorf("%s: %q is not marked", id, s)
		}
		for _, r := range s {
			if r < unicode.MaxASCII && unicode.IsLower(r) {
				t.Errorf("%s: %q keeps an ASCII letter", id, s)
				break
			}
		}
	}
	if got := w.T("pages.sign_in_first.line", "Org", "XYZ"); !strings.Contains(got, "XYZ") {
		t.Errorf("placeholder lost: %q", got)
	}
	if got, en := len([]rune(w.T("pages.unavailable.line1"))), len([]rune(locale.Default().Words("en").T("pages.unavailable.line1"))); got < en*13/10 {
		t.Errorf("pseudo text %d runes for English %d: not lengthened", got, en)
	}
}
