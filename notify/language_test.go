package notify_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
)

// emailsIn renders every email in w's language. The values are single
// words, so that any English sentence left in a translation shows.
func emailsIn(w *locale.Words) map[string]notify.Email {
	when := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	return map[string]notify.Email{
		"code":            notify.CodeEmail(notify.CodeMessage{Words: w, Org: "Acme", Code: "493817", Lifetime: 10 * time.Minute}),
		"code, enroll":    notify.CodeEmail(notify.CodeMessage{Words: w, Code: "493817", Purpose: notify.PurposeEnroll}),
		"new device":      notify.NewDeviceEmail(w, "Acme", "alice", "Firefox", "203.0.113.7", when, 30),
		"method added":    notify.MethodAddedEmail(w, "Acme", "alice", w.T("method.totp"), when),
		"setup":           notify.SetupEmail(w, "Acme", "alice", "https://app.example.com/.2fa/", []string{w.T("method.totp")}, "", notify.SetupTime{}),
		"policy changed":  notify.PolicyChangedEmail(w, "", "bob", "-", when),
		"reset":           notify.ResetEmail(w, "Acme", "", "", when),
		"paused":          notify.LockNotice(notify.LockMessage{Words: w, Org: "Acme", User: "alice", Wrong: 20, Wait: 5 * time.Minute}),
		"locked":          notify.LockNotice(notify.LockMessage{Words: w, Wrong: 50, Hard: true, SiteURL: "https://app.example.com", UnlockPath: "/.2fa/unlock"}),
		"devices removed": notify.DevicesRemovedEmail(w, "Acme", "alice", 2, when),
		"all removed":     notify.DevicesRemovedEmail(w, "", "alice", 0, when),
		"recovery used":   notify.RecoveryUsedEmail(w, "Acme", "alice", "203.0.113.7", 3, when),
		"recovery new":    notify.RecoveryNewEmail(w, "Acme", "alice", when),
	}
}

// englishSentences are the runs of three words or more of the English
// email: none of them may be left in a translation.
func englishSentences(m notify.Email) []string {
	var out []string
	for _, part := range regexp.MustCompile(`[.:,;!?\n]`).Split(m.Subject+"\n"+m.Text, -1) {
		if part = strings.TrimSpace(part); len(strings.Fields(part)) >= 3 && !strings.Contains(part, "UTC") {
			out = append(out, part)
		}
	}
	return out
}

func TestEmailsSpeakTheUsersLanguage(t *testing.T) {
	t.Parallel()
	english := emailsIn(nil)
	// One phrase of each language the emails must show: subject, text and
	// HTML alike.
	for lang, want := range map[string]struct{ subject, text, html string }{
		"fr": {"Nouvel appareil de confiance pour votre compte Acme", "Un nouvel appareil a été ajouté aux appareils de confiance", "Si ce n’était pas vous, <strong>contactez immédiatement votre administrateur</strong>"},
		"de": {"Neues vertrauenswürdiges Gerät für Ihr Konto bei Acme", "Es wird 30 Tage lang nicht nach einem zweiten Schritt gefragt.", "<strong>wenden Sie sich sofort an Ihren Administrator</strong>"},
		"es": {"Nuevo dispositivo de confianza en su cuenta de Acme", "No se le pedirá un segundo paso durante 30 días.", "<strong>póngase en contacto con su administrador de inmediato</strong>"},
		"ar": {"جهاز موثوق جديد لحسابك لدى Acme", "لن تُطلب منه خطوة ثانية لمدة 30 يومًا.", "<strong>فاتصل بالمسؤول فورًا</strong>"},
	} {
		w := locale.Default().Words(lang)
		emails := emailsIn(w)
		if m := emails["new device"]; m.Subject != want.subject || !strings.Contains(m.Text, want.text) || !strings.Contains(m.HTML, want.html) {
			t.Errorf("%s: the new-device email is not in its language:\n%s\n%s\n%s", lang, m.Subject, m.Text, m.HTML)
		}
		for name, m := range emails {
			for _, s := range englishSentences(english[name]) {
				if strings.Contains(m.Subject+m.Text, s) || strings.Contains(m.HTML, s) {
					t.Errorf("%s %s: English left in: %q", lang, name, s)
				}
			}
			if !strings.Contains(m.HTML, `<html lang="`+lang+`"`) {
				t.Errorf("%s %s: the HTML does not say its language", lang, name)
			}
			if rtl := strings.Contains(m.HTML, `dir="rtl"`); rtl != (lang == "ar") {
				t.Errorf("%s %s: dir=rtl is %v", lang, name, rtl)
			}
			if strings.Contains(m.Subject+m.Text+m.HTML, "notify.") {
				t.Errorf("%s %s: a message id shows instead of its words:\n%s", lang, name, m.Text)
			}
		}
	}
}

// A user who chose French reads a French code email: the subject, the
// plain text and the HTML, and not one English sentence.
func TestCodeEmailInFrench(t *testing.T) {
	t.Parallel()
	m := notify.CodeEmail(notify.CodeMessage{Words: locale.Default().Words("fr"), Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute, Purpose: notify.PurposeLogin})
	if m.Subject != "493817 est votre code de vérification pour Acme Corp" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"Saisissez-le pour vous connecter. Il expire dans 10 minutes.", "Ne communiquez ce code à personne.", "Ceci est un message de sécurité automatique envoyé par Acme Corp."} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("text or HTML lacks %q:\n%s\n%s", want, m.Text, m.HTML)
		}
	}
	for _, english := range []string{"verification code", "Enter it", "expires", "share", "password", "automatic security message"} {
		if strings.Contains(m.Subject+m.Text+m.HTML, english) {
			t.Errorf("English %q left in the French email", english)
		}
	}
}

func TestCodeSMSFitsOneSegmentInEveryLanguage(t *testing.T) {
	t.Parallel()
	orgs := []string{"Acme Corp", "", "Société Générale ✓ 株式会社", "شركة الاتصالات السعودية المحدودة", strings.Repeat("Long Name Industries ", 10), "Tab\tand\nnewline\u202e"}
	domains := []string{"", "app.example.com", strings.Repeat("sub.", 30) + "example.com"}
	lifetimes := []time.Duration{0, 45 * time.Second, 2 * time.Minute, 10 * time.Minute, 3 * time.Hour}
	for _, lang := range []string{"en", "de", "fr", "es", "ar"} {
		w := locale.Default().Words(lang)
		for _, org := range orgs {
			for _, domain := range domains {
				for _, life := range lifetimes {
					sms := notify.CodeSMS(notify.CodeMessage{Words: w, Org: org, Code: "493817", Lifetime: life, Domain: domain})
					if !strings.Contains(sms, "493817") {
						t.Errorf("%s org %q: code missing: %q", lang, org, sms)
					}
					if lang != "ar" {
						if n := utf8.RuneCountInString(sms); n > 160 || !isGSM7(sms) {
							t.Errorf("%s org %q domain %q: not one GSM-7 segment (%d characters): %q", lang, org, domain, n, sms)
						}
						continue
					}
					// Arabic needs UCS-2: 70 UTF-16 units a segment, its
					// letters kept.
					if n := len(utf16.Encode([]rune(sms))); n > 70 {
						t.Errorf("ar org %q domain %q %v: %d UTF-16 units, more than one UCS-2 segment: %q", org, domain, life, n, sms)
					}
					if !strings.Contains(sms, "رمز") || strings.ContainsAny(sms, "\t\u202e") {
						t.Errorf("ar org %q: %q", org, sms)
					}
				}
			}
		}
	}
	ar := notify.CodeSMS(notify.CodeMessage{Words: locale.Default().Words("ar"), Org: "Acme Corp", Code: "493817", Lifetime: 10 * time.Minute, Domain: "app.example.com"})
	if want := "رمز Acme Corp: 493817. صالح لمدة 10 دقائق.\n\n@app.example.com #493817"; ar != want {
		t.Errorf("Arabic SMS = %q, want %q", ar, want)
	}
	// German stays GSM-7 (its umlauts are), Spanish loses the accents
	// GSM-7 lacks, not the letters.
	if de := notify.CodeSMS(notify.CodeMessage{Words: locale.Default().Words("de"), Org: "Müller", Code: "493817", Lifetime: 10 * time.Minute}); !strings.HasPrefix(de, "Code für Müller: 493817. 10 Min. gültig.") {
		t.Errorf("German SMS %q", de)
	}
	if es := notify.CodeSMS(notify.CodeMessage{Words: locale.Default().Words("es"), Code: "493817", Lifetime: 10 * time.Minute}); !strings.HasPrefix(es, "Su codigo: 493817. Caduca en 10 min.") {
		t.Errorf("Spanish SMS %q", es)
	}
}

func TestPhoneErrorsInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	_, err := notify.NormalizePhone("", "")
	if got := notify.PhoneErrorText(locale.Default().Words("de"), err); got != "geben Sie Ihre Telefonnummer mit Ländervorwahl ein, zum Beispiel +44 7700 900123" {
		t.Errorf("German: %q", got)
	}
	if got := notify.PhoneErrorText(nil, err); got != err.Error() {
		t.Errorf("English: %q, want %q", got, err.Error())
	}
}
