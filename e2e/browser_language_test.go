package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/locale/localetest"
)

// Languages in the browser: a journey in German (the browser asks for
// it), one in Arabic (chosen in the footer; the pages are right to left),
// and every page in the pseudo-locale, which shows any English left and
// any layout that breaks with longer words.

// acceptLanguage makes the user's browser ask for lang, as its settings
// would.
func (u *browserUser) acceptLanguage(lang string) {
	u.t.Helper()
	u.do("asking for "+lang, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": lang}})
		return err
	}))
}

// wantLanguage: the page is in lang, written in dir.
func (u *browserUser) wantLanguage(lang, dir string) {
	u.t.Helper()
	got := run(u, "reading the page's language", chromedp.Evaluate[string](`document.documentElement.lang + " " + document.documentElement.dir`))
	if got != lang+" "+dir {
		u.t.Fatalf("%s at %s: the page is %q, want %q", u.name, u.location(), got, lang+" "+dir)
	}
}

// wantWords: the page says each message of words, and none of English's.
func (u *browserUser) wantWords(words *locale.Words, ids ...string) {
	u.t.Helper()
	text := u.pageText()
	en := locale.Default().Words(locale.English)
	for _, id := range ids {
		if !strings.Contains(text, words.T(id, "Org", "Acme Corp")) {
			u.t.Errorf("%s at %s: no %s %q; the page says:\n%s", u.name, u.location(), words.Lang(), words.T(id, "Org", "Acme Corp"), text)
		}
		if english := en.T(id, "Org", "Acme Corp"); strings.Contains(text, english) {
			u.t.Errorf("%s at %s: English %q on a %s page", u.name, u.location(), english, words.Lang())
		}
	}
}

func TestBrowserTOTPJourneyInGerman(t *testing.T) {
	rig := startBrowserRig(t, "german", rigConfig{policy: everyMethod})
	de := locale.Default().Words("de")
	alice := rig.newUser("alice")
	alice.acceptLanguage("de-DE,de;q=0.9,en;q=0.5")
	alice.login("alice-demo", "/reports")
	alice.wantPage("/.2fa/enroll")
	alice.wantLanguage("de", "ltr")
	alice.wantWords(de, "layout.tag", "layout.footer", "method.totp")
	alice.press("#choose-totp")
	alice.wantLanguage("de", "ltr")
	alice.wantWords(de, "codeform.label", "codeform.finish")
	key := alice.totpKey()
	alice.enterCode(rig.totpCode("alice", key))
	alice.wantLanguage("de", "ltr")
	alice.saveRecoveryCodes()
	alice.wantApp("/reports")

	alice.logout()
	alice.login("alice-demo", "/settings")
	alice.wantPage("/.2fa/verify/totp")
	alice.wantWords(de, "codeform.label", "codeform.verify")
	alice.enterCode(rig.totpCode("alice", key))
	alice.wantApp("/settings")
}

func TestBrowserTOTPJourneyRightToLeft(t *testing.T) {
	rig := startBrowserRig(t, "arabic", rigConfig{policy: everyMethod})
	ar := locale.Default().Words("ar")
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/enroll")
	bob.wantLanguage("en", "ltr")
	// The footer's selector: the choice is stored on bob's record and
	// outlives the browser's language.
	bob.do("choosing Arabic", chromedp.SetValue(chromedp.ID("language-select"), "ar"))
	bob.press("form.language button[type=submit]")
	bob.wantPage("/.2fa/enroll")
	bob.wantLanguage("ar", "rtl")
	bob.wantWords(ar, "layout.tag", "layout.footer", "method.totp")
	bob.press("#choose-totp")
	bob.wantLanguage("ar", "rtl")
	bob.enterCode(rig.totpCode("bob", bob.totpKey()))
	bob.saveRecoveryCodes()
	bob.wantApp("/reports")
	bob.logout()
	bob.acceptLanguage("de")
	bob.login("bob-demo", "/settings")
	bob.wantPage("/.2fa/verify/totp")
	bob.wantLanguage("ar", "rtl")
	bob.wantWords(ar, "codeform.label", "codeform.verify")
}

// englishWords are the words of the English messages that no other
// language shares (names of products and of the demo's people aside).
func englishWords() map[string]bool {
	en := locale.Default()
	words := map[string]bool{}
	actions := regexp.MustCompile(`\{\{[^}]*\}\}|<[^>]*>|&[a-z]+;`)
	word := regexp.MustCompile(`[A-Za-z]{4,}`)
	for _, id := range en.Messages(locale.English) {
		for _, s := range en.Words(locale.English).Forms(id) {
			for _, w := range word.FindAllString(actions.ReplaceAllString(s, " "), -1) {
				words[strings.ToLower(w)] = true
			}
		}
	}
	for _, keep := range []string{"acme", "corp", "alice", "google", "microsoft", "authenticator", "authy", "yubikey", "password", "https", "example", "demo"} {
		delete(words, keep)
	}
	return words
}

// wantNoEnglish: no English word of our messages in the page's text or
// in the attributes people read (labels, placeholders, titles).
func (u *browserUser) wantNoEnglish(english map[string]bool) {
	u.t.Helper()
	text := run(u, "reading the page's words", chromedp.Evaluate[string](`(() => {
		// The language selector names each language in itself.
		const body = document.body.cloneNode(true);
		for (const el of body.querySelectorAll("#language-select")) el.remove();
		const parts = [document.title, body.innerText];
		for (const el of document.querySelectorAll("[placeholder],[aria-label],[title],[alt],input[type=submit],input[type=button]")) {
			for (const a of ["placeholder", "aria-label", "title", "alt", "value"]) if (el.hasAttribute(a)) parts.push(el.getAttribute(a));
		}
		return parts.join("\n");
	})()`))
	var found []string
	for _, w := range regexp.MustCompile(`[A-Za-z]{4,}`).FindAllString(text, -1) {
		if english[strings.ToLower(w)] && !slices.Contains(found, w) {
			found = append(found, w)
		}
	}
	if len(found) > 0 {
		u.t.Errorf("%s at %s: English left in the pseudo-locale: %v\n%s", u.name, u.location(), found, text)
	}
}

// wantFitsThePhone: at 390 px nothing is wider than the screen (but what
// scrolls in a container of its own, as wide tables do).
func (u *browserUser) wantFitsThePhone() {
	u.t.Helper()
	u.do("a phone's width", chromedp.EmulateViewport(390, 844))
	wide := run(u, "measuring the page", chromedp.Evaluate[[]string](`(() => {
		const out = [];
		if (document.documentElement.scrollWidth > window.innerWidth) out.push("page " + document.documentElement.scrollWidth + "px");
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (el.closest(".table-wrap")) continue;
			if (r.width > 0 && (r.right > window.innerWidth + 1 || r.left < -1)) out.push(el.tagName + (el.id ? "#" + el.id : "") + " " + Math.round(r.left) + ".." + Math.round(r.right) + "px");
		}
		return out.slice(0, 10);
	})()`))
	if len(wide) > 0 {
		u.t.Errorf("%s at %s: wider than a 390 px phone: %v", u.name, u.location(), wide)
	}
}

func TestBrowserPseudoLocaleLeavesNoEnglishAndFitsAPhone(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, localetest.PseudoTag+".toml"), localetest.Pseudo(locale.Default()), 0o644); err != nil {
		t.Fatal(err)
	}
	rig := startBrowserRig(t, "pseudo", rigConfig{policy: everyMethod + "\n\t\t\t\tsetup_within 14d", appOptions: "locales " + dir})
	english := englishWords()
	bob := rig.newUser("bob")
	bob.acceptLanguage(localetest.PseudoTag)
	bob.onPage = func() { bob.wantNoEnglish(english); bob.wantFitsThePhone() }
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/setup-later")
	bob.press("#remind-later")
	alice := rig.newUser("alice")
	alice.acceptLanguage(localetest.PseudoTag)
	alice.onPage = func() { alice.wantNoEnglish(english); alice.wantFitsThePhone() }
	alice.login("alice-demo", "/reports")
	alice.wantPage("/.2fa/enroll")
	alice.wantLanguage(localetest.PseudoTag, "ltr")
	alice.press("#choose-totp")
	alice.enterCode("000000")
	alice.enterCode(rig.totpCode("alice", alice.totpKey()))
	alice.saveRecoveryCodes()
	for _, page := range []string{"/.2fa/methods", "/.2fa/devices", "/.2fa/enroll", "/.2fa/enroll/email", "/.2fa/enroll/sms", "/.2fa/recovery-codes/new", "/.2fa/admin", "/.2fa/admin/edit", "/.2fa/admin/disable", "/.2fa/admin/audit", "/.2fa/admin/rollout", "/.2fa/admin/rollout?state=pending", "/.2fa/no-such-page"} {
		alice.open(page)
	}
	alice.logout()
	alice.login("alice-demo", "/settings")
	alice.wantPage("/.2fa/verify/totp")
	alice.open("/.2fa/verify/email")
	alice.open("/.2fa/verify/recovery")
	alice.open("/.2fa/unlock")
}

// A rollout with time to set up: bob puts setup off from the interstitial
// until his skips run out; alice, an admin, is given no time, and sees
// bob in the progress table and gives him more time.
func TestBrowserRolloutInterstitialAndProgressTable(t *testing.T) {
	rig := startBrowserRig(t, "rollout", rigConfig{policy: "enforce\n\t\t\t\tmethods totp email\n\t\t\t\tsetup_within 14d\n\t\t\t\tsetup_skips 2"})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/setup-later")
	bob.wantText("#deadline", "14 days left")
	bob.wantText("#skips-left", "2 more times")
	bob.press("#remind-later")
	bob.wantApp("/reports")

	alice := rig.newUser("alice")
	alice.login("alice-demo", "/")
	alice.wantPage("/.2fa/enroll")
	alice.press("#choose-totp")
	alice.enterCode(rig.totpCode("alice", alice.totpKey()))
	alice.saveRecoveryCodes()
	alice.wantApp("/")
	alice.open("/.2fa/admin")
	alice.wantText("#count-pending", "1")
	alice.wantText("#count-enrolled", "1")
	alice.wantText("#rollout-summary", "14 days")
	alice.press("#rollout-link")
	alice.wantPage("/.2fa/admin/rollout")
	alice.wantText("#user-bob", "pending")
	alice.do("choosing a week more", chromedp.SetValue(chromedp.ID("days-bob"), "7"))
	alice.press(`#user-bob form.extend button[type=submit]`)
	alice.wantText("#notice", "bob now has until")
	alice.open("/.2fa/admin/rollout?state=pending")
	alice.wantText("#user-bob", "extended by alice")
	alice.open("/.2fa/admin/edit")
	if checked := run(alice, "reading the rollout choice", chromedp.JavascriptAttribute[bool](chromedp.ID("setup-days"), "checked")); !checked {
		t.Fatal("the edit dialog should show the rollout in days")
	}

	bob.logout()
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/setup-later")
	bob.wantText("#deadline", "21 days left")
	bob.wantText("#skips-left", "1 more time.")
	bob.press("#remind-later")
	bob.wantApp("/reports")
	bob.logout()
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/enroll")
}
