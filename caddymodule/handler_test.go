package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestBypassSpoofingMatchesOnlyTheCleanedPath(t *testing.T) {
	h := &Handler{bypassExact: map[string]bool{"/healthz": true}, bypassPrefixes: []string{"/static/"}}
	for p, want := range map[string]bool{
		"/healthz": true, "/static/app.css": true, "/static/a/b": true,
		"/static/../admin": false, "/static/..\\admin": false, "/healthz/../admin": false,
		"/STATIC/x": false, "/Healthz": false, "/admin": false, "/static": true, "//static/x": true,
	} {
		if got := h.bypassed(p); got != want {
			t.Errorf("bypassed(%q) = %t, want %t", p, got, want)
		}
	}
}

func TestIdentityHeaderSmugglingSpellingsNormalised(t *testing.T) {
	h := &Handler{Identity: &IdentityConfig{}, identityHeaders: map[string]bool{"x-remote-user": true}}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header["X-Remote-User"] = []string{"alice"}
	r.Header["X_Remote_User"] = []string{"alice"}
	r.Header["x_remote_user"] = []string{"alice"}
	r.Header["X-REMOTE-USER"] = []string{"alice"}
	h.stripIdentityHeaders(r)
	if len(r.Header) != 0 {
		t.Fatalf("left: %v", r.Header)
	}
}

// The Caddyfile parser takes operator input; it must never panic.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, s := range []string{
		"twofactor {\n identity lookup http://x/me {\n cookie c\n }\n}",
		"twofactor {\n policy {\n enforce immediately\n methods totp email\n remember 30d\n }\n limits {\n user_failures 5 10m\n }\n}",
		"twofactor {\n identity {\n id {http.auth.user.id}\n }\n bypass /a /b/*\n sms_countries 1 +44\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		if strings.Count(input, "{") > 50 {
			return
		}
		var h Handler
		_ = h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		var a App
		_ = a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	})
}
