package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// The site whose host is the realm's RP ID publishes the related origins
// at /.well-known/webauthn, before the gate and without an identity; other
// sites, and other paths, are the app's as always.
func TestRPIDSiteServesTheRelatedOrigins(t *testing.T) {
	app := newTestApp()
	app.Realms = map[string]*RealmConfig{"default": {WebAuthn: &WebAuthnConfig{RPID: "acme.example", RelatedOrigins: []string{"https://partners.example"}}}}
	h := setupHandlerIn(t, app, tempBolt(t), &Handler{SiteURL: "https://acme.example"})
	w := serve(h, http.MethodGet, "/.well-known/webauthn", "", nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"https://partners.example"`) {
		t.Fatalf("the related origins: %d %s", w.Code, w.Body)
	}
	if w := serve(h, http.MethodGet, "/.well-known/security.txt", "", nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("another well-known path: %d, want the app's answer", w.Code)
	}
	other := newTestApp()
	other.Realms = map[string]*RealmConfig{"default": {WebAuthn: &WebAuthnConfig{RPID: "acme.example", RelatedOrigins: []string{"https://partners.example"}}}}
	partner := setupHandlerIn(t, other, tempBolt(t), &Handler{SiteURL: "https://partners.example"})
	if w := serve(partner, http.MethodGet, "/.well-known/webauthn", "", nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("a related site's own /.well-known/webauthn: %d, want the app's answer", w.Code)
	}
}
