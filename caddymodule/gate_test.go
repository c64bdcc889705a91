package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// cookiesUpstream runs one request through h and returns the Cookie
// header the next handler got ("-" when the request did not go on).
func cookiesUpstream(t *testing.T, h *Handler, target, user, cookie string) string {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set("Cookie", cookie)
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, nil, nil)
	if user != "" {
		repl.Set("http.auth.user.id", user)
	}
	got := "-"
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = strings.Join(r.Header["Cookie"], "; ")
		return nil
	})
	if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	return got
}

// Our cookies (the 90-day device cookie too) never reach the app: not on
// bypass paths, not with anonymous requests.
func TestOurCookiesAbsentUpstreamOnBypassAndAnonymousRequests(t *testing.T) {
	h := setupBenchHandler(t, tempBolt(t), &Handler{Policy: &PolicyConfig{Enforce: true}, SessionCookie: "app_session", Bypass: []string{"/static/*"}})
	ours := "app_session=a1; 2fa_device=d; __Host-2fa_session=s; 2fa_seen=n; theme=dark"
	for _, c := range []struct{ target, user string }{{"/static/app.css", "alice"}, {"/static/app.css", ""}, {"/reports", ""}} {
		if got := cookiesUpstream(t, h, c.target, c.user, ours); got != "app_session=a1; theme=dark" {
			t.Errorf("%s (user %q): the app got %q", c.target, c.user, got)
		}
	}
}

// With id_case insensitive, "ALICE" is alice: her session, not a new,
// unenrolled user with counters of its own.
func TestIDCaseInsensitiveMakesOneUserOfEverySpelling(t *testing.T) {
	for _, c := range []struct {
		idCase string
		passes bool
	}{{"insensitive", true}, {"", false}} {
		h := setupBenchHandler(t, tempBolt(t), &Handler{Policy: &PolicyConfig{Enforce: true}, SessionCookie: "app_session", IDCase: c.idCase})
		cookies := verifiedCookies(t, h, "alice")
		w := serve(h, "GET", "/reports", "ALICE", cookies, nil)
		if passed := w.Code == http.StatusNoContent; passed != c.passes {
			t.Errorf("id_case %q: ALICE with alice's session got %d", c.idCase, w.Code)
		}
	}
}

func TestValidateBoundsFreshForIDCaseAndCodeLimits(t *testing.T) {
	for _, h := range []*Handler{
		{FreshFor: caddy.Duration(30e9)},
		{FreshFor: caddy.Duration(13 * 3600e9)},
		{IDCase: "upper"},
		{Limits: &Limits{CodeLifetime: caddy.Duration(16 * 60e9)}},
		{Limits: &Limits{CodeAttempts: 11}},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("%+v accepted", h)
		}
	}
}
