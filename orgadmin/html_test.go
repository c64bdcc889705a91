package orgadmin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html/atom"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"

	xhtml "golang.org/x/net/html"
)

var adminAlice = identity.Identity{ID: "alice", Email: "alice@acme.example", Groups: []string{"general_settings:manager"}}

// pagesOf is the rig's settings pages and API on one mux.
func (rg *rig) pagesOf(t *testing.T) *http.ServeMux {
	t.Helper()
	site, err := pages.New(pages.Config{Prefix: "/.2fa", Org: "Acme Corp"})
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := keyring.Parse(keyring.Generate())
	h, err := NewHTML(rg.admin, site, pages.NewCSRF(ring, "default"), alwaysFresh{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	NewAPI(rg.admin, site, alwaysFresh{}, nil).Register(mux)
	return mux
}

// visit is one request of alice's browser in lang; cookies carries the
// CSRF cookie from one request to the next.
func visit(t *testing.T, mux http.Handler, lang, method, path string, form url.Values, cookies *[]*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Header.Set("Accept-Language", lang)
	for _, c := range *cookies {
		r.AddCookie(c)
	}
	r = r.WithContext(identity.NewContext(r.Context(), adminAlice))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	*cookies = append(*cookies, w.Result().Cookies()...)
	return w
}

// pageText is what a reader sees of a page: its text, without scripts.
func pageText(t *testing.T, body string) string {
	var out strings.Builder
	htmltest.Walk(htmltest.Parse(t, body), func(n *xhtml.Node) {
		if n.Type == xhtml.TextNode && (n.Parent == nil || n.Parent.DataAtom != atom.Script && n.Parent.DataAtom != atom.Style) {
			out.WriteString(n.Data)
			out.WriteString("\n")
		}
	})
	return out.String()
}

var markup = regexp.MustCompile(`<[^>]*>`)

// englishLeft fails when text holds a sentence (three words or more) of an
// English message of ours, skipping the ids with one of the prefixes.
func englishLeft(t *testing.T, lang, page, text string, skip ...string) {
	t.Helper()
	en := locale.Default().Words(locale.English)
next:
	for _, id := range locale.Default().Messages(locale.English) {
		if !strings.HasPrefix(id, "orgadmin.") && !strings.HasPrefix(id, "method.") {
			continue
		}
		for _, s := range skip {
			if strings.HasPrefix(id, s) {
				continue next
			}
		}
		// Without arguments each placeholder reads "<no value>": the
		// fragments between them and the markup are the English words.
		for _, frag := range markup.Split(en.T(id), -1) {
			frag = strings.Trim(frag, " .,:;()")
			if strings.Count(frag, " ") >= 2 && strings.Contains(text, frag) {
				t.Errorf("%s %s page: English %q (of %s) is left:\n%s", lang, page, frag, id, text)
			}
		}
	}
}

// enabledRig: 2FA on by the operator, setup emails queued to bob.
func enabledRig(t *testing.T) (*rig, *http.ServeMux) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	ctx := t.Context()
	if _, err := accounts.RememberUser(ctx, rg.b, "default", identity.Identity{ID: "bob", Email: "bob@acme.example"}, rg.clock()); err != nil {
		t.Fatal(err)
	}
	p, err := rg.admin.ReplacePolicy(ctx, Operator, -1, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP, policy.MethodEmail}, RememberDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "no setup emails queued", func() bool { return rg.mailer.queued(rg.admin.tell.setupJob(p)) == 1 })
	return rg, rg.pagesOf(t)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestSettingsPagesSpeakTheAdminsLanguage(t *testing.T) {
	rg, mux := enabledRig(t)
	prop, _, err := rg.admin.ProposeChange(t.Context(), alice, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}, RememberDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lang, dir          string
		home, confirm, sms []string
	}{
		{"de", "ltr",
			[]string{"Zwei-Faktor-Authentifizierung für alle Benutzer", "Authenticator-App, E-Mail", "Gerät merken: 30 Tage.", "Einrichtungs-E-Mails: 0 von 1 gesendet.", "nicht eingerichtet", "Letzte Aktivitäten"},
			[]string{"Änderung bestätigen", "Zwei-Faktor-Authentifizierung aktiv mit Authenticator-App", "Gerät merken für 7 Tage", "klicken Sie auf „Bestätigen“", "Die Änderung verfällt nach 10 Minuten"},
			[]string{"Die SMS-Verifizierung ist eine kostenpflichtige Zusatzfunktion"}},
		{"ar", "rtl",
			[]string{"المصادقة الثنائية لجميع المستخدمين", "تطبيق المصادقة، البريد الإلكتروني", "تذكّر الجهاز: 30 يومًا.", "غير مُعدّ"},
			[]string{"تأكيد التغيير", "المصادقة الثنائية مفعّلة بالطرق: تطبيق المصادقة", "تذكّر الأجهزة لمدة 7 أيام", "«تحقّق»", "10 دقائق"},
			[]string{"التحقق عبر الرسائل النصية إضافة مدفوعة"}},
	} {
		var cookies []*http.Cookie
		home := visit(t, mux, c.lang, "GET", "/.2fa/admin", nil, &cookies)
		text := pageText(t, home.Body.String())
		if home.Code != 200 || !strings.Contains(home.Body.String(), `dir="`+c.dir+`"`) {
			t.Fatalf("%s home: %d\n%s", c.lang, home.Code, home.Body)
		}
		for _, want := range c.home {
			if !strings.Contains(text, want) {
				t.Errorf("%s home page lacks %q:\n%s", c.lang, want, text)
			}
		}
		// The audit log keeps the policy's summary in English.
		englishLeft(t, c.lang, "home", text, "orgadmin.summary.")

		confirm := visit(t, mux, c.lang, "GET", "/.2fa/admin/confirm?change="+prop.ID, nil, &cookies)
		text = pageText(t, confirm.Body.String())
		for _, want := range c.confirm {
			if !strings.Contains(text, want) {
				t.Errorf("%s confirm page lacks %q:\n%s", c.lang, want, text)
			}
		}
		englishLeft(t, c.lang, "confirm", text)

		// A policy the org cannot have (no SMS add-on): Validate's refusal,
		// in the admin's words.
		edit := visit(t, mux, c.lang, "GET", "/.2fa/admin/edit", nil, &cookies)
		csrf := csrfField.FindStringSubmatch(edit.Body.String())
		if csrf == nil {
			t.Fatalf("%s: no form on the edit page:\n%s", c.lang, edit.Body)
		}
		refused := visit(t, mux, c.lang, "POST", "/.2fa/admin/edit", url.Values{"csrf": {csrf[1]}, "method": {"sms"}, "recovery": {"1"}}, &cookies)
		msg := htmltest.Text(refused.Body.String(), "form-error")
		if refused.Code != http.StatusUnprocessableEntity || !strings.Contains(msg, c.sms[0]) {
			t.Errorf("%s: refused policy: %d %q", c.lang, refused.Code, msg)
		}
		englishLeft(t, c.lang, "edit", pageText(t, refused.Body.String()))
	}
}

// The API's messages follow Accept-Language too; the Caddy admin routes'
// (AnswerFor) stay English, for the operator's logs.
func TestAPIMessagesSpeakTheCallersLanguage(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	mux := rg.api(t)
	r := httptest.NewRequest("POST", "/.2fa/api/admin/proposals", strings.NewReader(`{"enabled":true,"methods":[]}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	r = r.WithContext(identity.NewContext(r.Context(), adminAlice))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if body := w.Body.String(); w.Code != 422 || !strings.Contains(body, "Wählen Sie mindestens eine Verifizierungsmethode.") {
		t.Fatalf("%d %s", w.Code, body)
	}
	_, _, err := rg.admin.ProposeChange(t.Context(), alice, policy.Policy{Enabled: true, Methods: []string{policy.MethodSMS}})
	if got := AnswerFor(err).Message; got != sentence(policy.ErrSMSUnavailable.Error()) {
		t.Fatalf("the operator's answer: %q", got)
	}
}

func TestSummaryTextInEnglishReadsAsBefore(t *testing.T) {
	p := policy.Policy{Enabled: true, Methods: []string{policy.MethodEmail, policy.MethodTOTP}, RememberDays: 1, RecoveryCodesOff: true}
	want := "two-factor authentication on with Authenticator app, Email; remember me for 1 day; recovery codes off"
	if got := summaryText(nil, p); got != want {
		t.Fatalf("%q", got)
	}
	if got := summaryText(nil, policy.Policy{}); got != "two-factor authentication off" {
		t.Fatalf("%q", got)
	}
}
