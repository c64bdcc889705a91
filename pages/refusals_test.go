package pages

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func testSite(t *testing.T) *Site {
	t.Helper()
	s, err := New(Config{Prefix: "/.2fa", Org: "Acme Corp"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A refusal is a page for a browser and JSON for an API client.
func TestRefusalSpeaksJSONToAPIsAndHTMLToBrowsers(t *testing.T) {
	s := testSite(t)
	r := httptest.NewRequest(http.MethodPost, "/api/x", nil)
	w := httptest.NewRecorder()
	s.Refuse(w, r, CredentialNotChecked, "an Authorization header")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"credential_not_checked"`) {
		t.Fatalf("API: %d %s", w.Code, w.Body)
	}
	r = httptest.NewRequest(http.MethodGet, "/reports", nil)
	r.Header.Set("Accept", "text/html")
	w = httptest.NewRecorder()
	s.Refuse(w, r, MalformedCookie, "")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "malformed cookie") || w.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("browser: %d %s", w.Code, w.Body)
	}
}

// The "can't check your sign-in" page links back to the page asked for,
// never to another site: "//evil.example/x" is a protocol-relative link.
func TestUnavailablePageRetryLinkStaysOnSite(t *testing.T) {
	s := testSite(t)
	for target, want := range map[string]string{
		"//evil.example/x": `href="/"`, "/%2f%2fevil.example": `href="/"`, "/reports?q=1": `href="/reports?q=1"`,
		"/.2fa/enroll/totp": `href="/.2fa/enroll/totp"`, "/.2fa/verify/totp": `href="/.2fa/"`,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RequestURI = target
		r.URL, _ = url.ParseRequestURI(target)
		r.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		s.Unavailable(w, r)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), want) || strings.Contains(w.Body.String(), `href="//`) {
			t.Errorf("%s: %d, want the link %s", target, w.Code, want)
		}
	}
}
