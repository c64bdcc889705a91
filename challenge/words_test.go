package challenge

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/locale"
)

// The sentences of the TOTP verify page, by message id: each must read in
// the browser's language, and none in English.
var verifyPageSentences = []string{
	"challenge.verify.title",
	"challenge.verify.totp_intro",
	"challenge.help.summary",
	"challenge.totp_help.find",
	"challenge.totp_help.changes",
	"challenge.totp_help.clock",
	"challenge.totp_help.lost",
	"codeform.label",
	"layout.footer",
}

func TestVerifyPageSpeaksTheBrowsersLanguage(t *testing.T) {
	h := newHarness(t)
	h.browser("alice", "s1").enrollTOTP("/app")
	h.advance(31 * time.Second)
	for _, lang := range []string{"de", "ar"} {
		t.Run(lang, func(t *testing.T) {
			b := h.browser("alice", "s-"+lang)
			page := verifyPageIn(t, b, lang)
			body := html.UnescapeString(page.body)
			en, words := locale.Default().Words("en"), locale.Default().Words(lang)
			for _, id := range verifyPageSentences {
				want, english := words.T(id, "Org", "Acme Corp"), en.T(id, "Org", "Acme Corp")
				if want == english || want == id {
					t.Fatalf("%s has no %s message of its own: %q", lang, id, want)
				}
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %s %q", id, want)
				}
				if strings.Contains(body, english) {
					t.Errorf("the page says %q in English", english)
				}
			}
			if strings.Contains(body, "challenge.") {
				t.Errorf("a message id shows on the page:\n%s", body)
			}
			if lang == "ar" && !strings.Contains(page.body, `<html lang="ar" dir="rtl">`) {
				t.Errorf("an Arabic page must be written right to left:\n%.300s", page.body)
			}

			// A wrong code is told, with the tries left, in the same language.
			action, csrf := formOf(t, page.body)
			r := b.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {"000000"}}, "Accept-Language", lang)
			left := h.cfg.MaxCodeAttempts - 1
			want := words.N("challenge.code.tries_left", left, "Wrong", words.T("challenge.code.wrong"))
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.body), want) {
				t.Errorf("a wrong code: %d, want %q in\n%s", r.status, want, r.body)
			}
			if strings.Contains(html.UnescapeString(r.body), en.T("challenge.code.wrong")) {
				t.Error("a wrong code is told in English")
			}
		})
	}
}

// verifyPageIn walks a new app session of a user with an authenticator
// app to its code page, asking for lang.
func verifyPageIn(t *testing.T, b *browser, lang string) reply {
	t.Helper()
	path := "/app"
	for range 10 {
		r := b.get(path, "Accept-Language", lang)
		if r.status < 300 || r.status >= 400 {
			if !strings.Contains(r.body, `name="code"`) {
				t.Fatalf("%s: no code form:\n%s", path, r.body)
			}
			return r
		}
		path = r.location
	}
	t.Fatal("redirect loop")
	return reply{}
}

// The word helpers say durations and methods in the language given; nil
// Words speak English, as before there were others.
func TestWordsOfDurationsAndMethods(t *testing.T) {
	en, de := locale.Default().Words("en"), locale.Default().Words("de")
	for got, want := range map[string]string{
		minutes(nil, 10*time.Minute):  "10 minutes",
		minutes(en, time.Minute):      "1 minute",
		minutes(en, 120*time.Minute):  "120 minutes",
		minutes(en, 20*time.Second):   "20 seconds",
		seconds(en, time.Second):      "1 second",
		seconds(de, 30*time.Second):   "30 Sekunden",
		MethodName(en, "totp"):        "Authenticator app",
		methodDescriptions(en, "sms"): "Get a code by text message.",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
