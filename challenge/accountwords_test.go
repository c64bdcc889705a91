package challenge

import (
	"html"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/locale"
)

// followIn is follow for a browser that asks for lang.
func (b *browser) followIn(path, lang string) reply {
	b.h.t.Helper()
	for range 10 {
		r := b.get(path, "Accept-Language", lang)
		if r.status < 300 || r.status >= 400 {
			return r
		}
		path = r.location
	}
	b.h.t.Fatal("redirect loop")
	return reply{}
}

// englishSentences are the literal parts of the English messages whose
// ids start with prefix: none of them may be left on a translated page.
func englishSentences(prefix string) []string {
	en := locale.Default().Words(locale.English)
	var out []string
	for _, id := range locale.Default().Messages(locale.English) {
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		s := en.T(id)
		if s == id { // a plural: it needs a count
			s = en.N(id, 2)
		}
		// Placeholders read "<no value>" here; around them is the text.
		for _, part := range strings.Split(s, "<no value>") {
			for _, p := range strings.Split(part, "<strong>2</strong>") {
				if p = strings.TrimSpace(p); len(p) >= 10 && strings.Contains(p, " ") {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func TestAccountPagesSpeakGermanAndArabic(t *testing.T) {
	for _, tc := range []struct {
		lang             string
		methods, devices []string
	}{
		{"de", []string{"Ihre Anmeldemethoden", "Authenticator-App", "Bevorzugt", "10 von 10 Codes übrig", "Eingerichtet: ", "zuletzt verwendet: nie", "Mit einem Wiederherstellungscode"},
			[]string{"Ihre vertrauenswürdigen Geräte", "30 Tage lang", "Unbekannter Browser", "Dieses Gerät", "Vertrauenswürdig seit dem ", "Uhr UTC", "Andere Geräte abmelden"}},
		{"ar", []string{"طرق تسجيل الدخول الخاصة بك", "تطبيق المصادقة", "المفضلة", "تبقّت 10 رموز من أصل 10", "آخر استخدام: أبدًا"},
			[]string{"أجهزتك الموثوقة", "لمدة 30 يومًا", "متصفح غير معروف", "هذا الجهاز", "موثوق منذ", "تسجيل الخروج من الأجهزة الأخرى"}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			h := rememberHarness(t, 30)
			b := h.browser("alice", "s1")
			b.rememberedLogin()
			words := locale.Default().Words(tc.lang)
			today := words.Date(h.clock())
			for path, want := range map[string][]string{
				"/.2fa/methods": append(tc.methods, today),
				"/.2fa/devices": append(tc.devices, today),
			} {
				page := b.followIn(path, tc.lang)
				if page.status != 200 {
					t.Fatalf("%s: %d", path, page.status)
				}
				body := html.UnescapeString(page.body)
				if !strings.Contains(body, `lang="`+tc.lang+`" dir="`+words.Dir()+`"`) {
					t.Errorf("%s is not marked as %s", path, tc.lang)
				}
				for _, w := range want {
					if !strings.Contains(body, w) {
						t.Errorf("%s lacks %q:\n%s", path, w, body)
					}
				}
				english := append(englishSentences("account."), "Authenticator app", "Unknown browser")
				if month := "format.month." + itoa(int64(h.clock().Month())); words.T(month) != locale.Default().Words(locale.English).T(month) {
					english = append(english, locale.Default().Words(locale.English).T(month))
				}
				for _, en := range english {
					if strings.Contains(body, en) {
						t.Errorf("%s in %s still says %q", path, tc.lang, en)
					}
				}
				if strings.Contains(body, "account.") {
					t.Errorf("%s shows a message id:\n%s", path, body)
				}
			}
		})
	}
}

func TestDeviceNamesAreTranslatedButBrowserNamesStay(t *testing.T) {
	de := locale.Default().Words("de")
	for summary, want := range map[string][2]string{
		"Firefox on Windows":       {"Firefox on Windows", "Firefox unter Windows"},
		"Unknown browser on Linux": {"Unknown browser on Linux", "Unbekannter Browser unter Linux"},
		"Unknown browser":          {"Unknown browser", "Unbekannter Browser"},
		"curl":                     {"curl", "curl"},
		"Safari on iOS":            {"Safari on iOS", "Safari unter iOS"},
	} {
		if got := deviceName(nil, summary); got != want[0] {
			t.Errorf("English %q: %q, want %q", summary, got, want[0])
		}
		if got := deviceName(de, summary); got != want[1] {
			t.Errorf("German %q: %q, want %q", summary, got, want[1])
		}
	}
}
