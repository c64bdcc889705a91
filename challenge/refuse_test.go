package challenge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
)

// A flood of malformed cookies from one address writes one audit event per
// window, which says how many it stands for.
func TestRefusalFloodIsAuditedOncePerWindow(t *testing.T) {
	h := newHarness(t)
	refuse := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/reports", nil)
		r.RemoteAddr = "203.0.113.7:4000"
		r.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		h.svc.RefuseAmbiguousCookie(w, r, &identity.AmbiguousCookieError{Resembles: "legacy_session", Sent: "legacy.session"})
		return w
	}
	for range 40 {
		w := refuse()
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "malformed cookie") {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if got := w.Header().Get("Set-Cookie"); !strings.HasPrefix(got, "legacy.session=;") || !strings.Contains(got, "Max-Age=0") {
			t.Fatalf("the odd cookie is not cleared: %q", got)
		}
	}
	events, err := accounts.ListAudit(context.Background(), h.backend, "default", "", 100)
	if err != nil || len(events) != 1 || events[0].Action != "cookie_refused" || events[0].IP != "203.0.113.7" {
		t.Fatalf("after 40 refusals: %+v, %v", events, err)
	}
	h.advance(auditWindow)
	refuse()
	events, _ = accounts.ListAudit(context.Background(), h.backend, "default", "", 100)
	if len(events) != 2 || !strings.Contains(events[0].Detail, "and 39 more") {
		t.Fatalf("after the window: %+v", events)
	}
}

func TestFolderStaysWithinItsKeys(t *testing.T) {
	f := newFolder(time.Minute, 2)
	now := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b"} {
		if _, ok := f.admit(k, now); !ok {
			t.Fatalf("%s refused", k)
		}
	}
	if _, ok := f.admit("c", now); ok || len(f.keys) != 2 {
		t.Fatalf("a third key got in while the others are fresh: %d keys", len(f.keys))
	}
	if _, ok := f.admit("c", now.Add(time.Minute)); !ok || len(f.keys) > 2 {
		t.Fatalf("a third key after the others' window: %d keys", len(f.keys))
	}
}

// A refusal is a page for a browser and JSON for an API client.
func TestUncheckedCredentialRefusalSpeaksJSONToAPIs(t *testing.T) {
	h := newHarness(t)
	r := httptest.NewRequest(http.MethodPost, "/api/x", nil)
	w := httptest.NewRecorder()
	h.svc.RefuseUncheckedCredential(w, r, "an Authorization header")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"credential_not_checked"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// The "can't check your sign-in" page links back to the page asked for,
// never to another site: "//evil.example/x" is a protocol-relative link.
func TestUnavailablePageRetryLinkStaysOnSite(t *testing.T) {
	h := newHarness(t)
	for target, want := range map[string]string{
		"//evil.example/x": `href="/"`, "/%2f%2fevil.example": `href="/"`, "/reports?q=1": `href="/reports?q=1"`,
		"/.2fa/enroll/totp": `href="/.2fa/enroll/totp"`, "/.2fa/verify/totp": `href="/.2fa/"`,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RequestURI = target
		r.URL, _ = url.ParseRequestURI(target)
		r.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		h.svc.Unavailable(w, r, errors.New("store down"))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), want) || strings.Contains(w.Body.String(), `href="//`) {
			t.Errorf("%s: %d, want the link %s", target, w.Code, want)
		}
	}
}
