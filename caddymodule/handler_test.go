package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
)

// A template that is one request-header placeholder is read straight from
// the header: it must give exactly what Caddy's replacer gives.
func TestSingleHeaderTemplateReadsLikeTheReplacer(t *testing.T) {
	const tmpl = "{http.request.header.x-remote-user}"
	h := placeholderHandler(t, tmpl)
	for name, values := range map[string][]string{
		"absent":   nil,
		"one":      {"alice"},
		"several":  {"alice", "bob"},
		"empty":    {""},
		"spaces":   {"  alice  "},
		"with nul": {"ali\x00ce"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if values != nil {
			r.Header["X-Remote-User"] = values
		}
		resolvesLikeTheReplacer(t, h, tmpl, name, r, caddyhttp.NewTestReplacer(r))
	}
}

// placeholderHandler identifies users by the one template tmpl.
func placeholderHandler(t *testing.T, tmpl string) *Handler {
	t.Helper()
	p := &PlaceholderIdentity{ID: tmpl}
	if err := p.provision(); err != nil {
		t.Fatal(err)
	}
	return &Handler{source: p}
}

// resolvesLikeTheReplacer checks that h's direct read of tmpl gives the
// identity Caddy's replacer would.
func resolvesLikeTheReplacer(t *testing.T, h *Handler, tmpl, name string, r *http.Request, repl *caddy.Replacer) {
	t.Helper()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	got, err := h.Identify(r, identity.Cookies{}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Templates{ID: tmpl}.Resolve(func(s string) string { return repl.ReplaceAll(s, "") })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: direct read gives %+v, the replacer %+v", name, got, want)
	}
}

func TestSinglePlaceholderTemplateReadsLikeTheReplacer(t *testing.T) {
	const tmpl = "{http.auth.user.id}"
	h := placeholderHandler(t, tmpl)
	for name, value := range map[string]any{
		"absent": nil,
		"string": "alice",
		"empty":  "",
		"spaces": "  alice  ",
		"number": 42,
		"bytes":  []byte("alice"),
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		repl := caddyhttp.NewTestReplacer(r)
		if value != nil {
			repl.Set("http.auth.user.id", value)
		}
		resolvesLikeTheReplacer(t, h, tmpl, name, r, repl)
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

func TestBrandingReadsLogoFromFileOrDataURI(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	dir := t.TempDir()
	file := filepath.Join(dir, "logo.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.png")
	if err := os.WriteFile(big, append(png, make([]byte, pages.MaxLogoBytes)...), 0o600); err != nil {
		t.Fatal(err)
	}
	for logo, want := range map[string]string{
		file: "",
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(png): "",
		"data:image/png," + string(png):                                   "must be base64",
		"data:image/png;base64,not base64!":                               "not valid base64",
		filepath.Join(dir, "missing.png"):                                 "no such file",
	} {
		b, err := (&Handler{Logo: logo, Accent: "#abc"}).branding()
		switch {
		case want == "" && (err != nil || string(b.Logo) != string(png) || b.Accent != "#abc"):
			t.Errorf("%.40s: %v, %d bytes", logo, err, len(b.Logo))
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%.40s: want an error containing %q, got %v", logo, want, err)
		}
	}
	// A file over the limit is read only one byte past it, and refused
	// when the pages are set up.
	b, err := (&Handler{Logo: big}).branding()
	if err != nil || len(b.Logo) != pages.MaxLogoBytes+1 {
		t.Fatalf("big logo: %v, %d bytes read", err, len(b.Logo))
	}
	if _, err := pages.LogoType(b.Logo); err == nil {
		t.Fatal("a logo over the limit was accepted")
	}
}

// After the gate the app gets the user's ID in {http.auth.user.id} (for
// access logs and header_up), whether the identity came from that
// placeholder or from the app's who-am-I endpoint, and none of our cookies.
func TestVerifiedRequestCarriesUserIDOnwardWithoutOurCookies(t *testing.T) {
	whoami := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("app_session"); err == nil && c.Value == "app-alice" {
			fmt.Fprint(w, `{"id":"alice"}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer whoami.Close()
	for name, c := range map[string]struct {
		h    func(t *testing.T) *Handler
		user string // what {http.auth.user.id} holds before the gate
	}{
		"placeholder": {func(t *testing.T) *Handler { return benchHandlerOn(t, tempBolt(t)) }, "alice"},
		"lookup": {func(t *testing.T) *Handler {
			return setupBenchHandler(t, tempBolt(t), &Handler{
				Policy:      &PolicyConfig{Enforce: true},
				IdentityRaw: lookupJSON(whoami.URL, "app_session"),
			})
		}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			h := c.h(t)
			r := httptest.NewRequest("GET", "/reports", nil)
			for _, ck := range verifiedCookies(t, h, "alice") {
				r.AddCookie(ck)
			}
			repl := caddy.NewReplacer()
			r = caddyhttp.PrepareRequest(r, repl, nil, nil)
			if c.user != "" {
				repl.Set("http.auth.user.id", c.user)
			}
			var seenID any
			var seenCookies string
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seenID, _ = r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Get("http.auth.user.id")
				seenCookies = strings.Join(r.Header["Cookie"], "; ")
				return nil
			})
			if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if seenID != "alice" {
				t.Errorf("the app sees {http.auth.user.id} = %v, want alice", seenID)
			}
			if seenCookies != "app_session=app-alice" {
				t.Errorf("the app gets the cookies %q, want only its own", seenCookies)
			}
		})
	}
}

// JSON written for an earlier version names no identity source: it still
// loads, as the source it describes.
func TestIdentityJSONOfEarlierVersionsNamesItsSource(t *testing.T) {
	for in, want := range map[string]string{
		``:                                      `{"id":"{http.auth.user.id}","source":"placeholders"}`,
		`{"id":"{http.request.header.X-User}"}`: `{"id":"{http.request.header.X-User}","source":"placeholders"}`,
		`{"lookup":{"url":"http://127.0.0.1:9/me","cookie":"s"}}`: `{"cookie":"s","source":"lookup","url":"http://127.0.0.1:9/me"}`,
		`{"source":"lookup","url":"u","cookie":"s"}`:              `{"source":"lookup","url":"u","cookie":"s"}`,
	} {
		var raw json.RawMessage
		if in != "" {
			raw = json.RawMessage(in)
		}
		got, err := normalizeIdentity(raw)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		json.Unmarshal(got, &a)
		json.Unmarshal([]byte(want), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
