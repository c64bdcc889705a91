package legacyapp

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// serve runs one request through the app and returns the response.
func serve(t *testing.T, app http.Handler, req *http.Request) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	resp := rec.Result()
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loginRequest(username, password, next string) *http.Request {
	form := url.Values{"username": {username}, "password": {password}, "next": {next}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func withSession(req *http.Request, token string) *http.Request {
	req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: token})
	return req
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookieName {
			return c
		}
	}
	return nil
}

func mustLogin(t *testing.T, app *App, username, password string) string {
	t.Helper()
	token, ok := app.Login(username, password)
	if !ok {
		t.Fatalf("Login(%q) failed", username)
	}
	return token
}

func TestLoginFormSetsSessionCookieAndRedirectsToNext(t *testing.T) {
	app := New(Options{})
	resp := serve(t, app, loginRequest("alice", "alice-demo", "/reports/q3?view=full"))

	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status = %d, want %d", resp.StatusCode, http.StatusSeeOther)
	}
	if got := resp.Header.Get("Location"); got != "/reports/q3?view=full" {
		t.Errorf("Location = %q, want /reports/q3?view=full", got)
	}
	cookie := sessionCookie(resp)
	if cookie == nil {
		t.Fatal("no session cookie set")
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Errorf("cookie attributes: HttpOnly=%v SameSite=%v Path=%q", cookie.HttpOnly, cookie.SameSite, cookie.Path)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cookie.Value)
	if err != nil || len(raw) != 32 {
		t.Errorf("cookie value %q is not 32 base64url bytes (err %v)", cookie.Value, err)
	}

	page := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/reports/q3", nil), cookie.Value))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET /reports/q3 with session: status %d", page.StatusCode)
	}
	if b := body(t, page); !strings.Contains(b, `<p id="signed-in-as">Signed in as alice</p>`) {
		t.Errorf("page does not show signed-in user:\n%s", b)
	}
}

func TestLoginReplacesExistingSession(t *testing.T) {
	app := New(Options{})
	planted := mustLogin(t, app, "bob", "bob-demo")
	resp := serve(t, app, withSession(loginRequest("alice", "alice-demo", "/"), planted))
	fresh := sessionCookie(resp)
	if fresh == nil || fresh.Value == planted {
		t.Fatalf("login did not issue a fresh session token")
	}
	me := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), planted))
	if me.StatusCode != http.StatusUnauthorized {
		t.Errorf("old session still valid after new login: status %d", me.StatusCode)
	}
}

func TestLoginNeverRedirectsOffSite(t *testing.T) {
	app := New(Options{})
	for _, next := range []string{
		"",
		"//evil.example",
		"/\\evil.example",
		"https://evil.example",
		"evil.example",
		"/\t/evil.example",
		"javascript:alert(1)",
	} {
		resp := serve(t, app, loginRequest("alice", "alice-demo", next))
		if got := resp.Header.Get("Location"); got != "/" {
			t.Errorf("next=%q: Location = %q, want /", next, got)
		}
	}
}

func TestLoginFormKeepsSafeNext(t *testing.T) {
	app := New(Options{})
	for next, want := range map[string]string{
		"/reports":       `value="/reports"`,
		"//evil.example": `name="next" value="/"`,
	} {
		resp := serve(t, app, httptest.NewRequest(http.MethodGet, "/login?next="+url.QueryEscape(next), nil))
		b := body(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(b, want) {
			t.Errorf("GET /login?next=%q: status %d, body lacks %s", next, resp.StatusCode, want)
		}
		if !strings.Contains(b, `<label for="username">`) || !strings.Contains(b, `<html lang="en">`) {
			t.Errorf("login form lacks labels or lang attribute")
		}
	}
}

func TestLoginWrongPasswordIsUnauthorized(t *testing.T) {
	app := New(Options{})
	for _, creds := range [][2]string{{"alice", "wrong"}, {"mallory", "alice-demo"}, {"alice", ""}} {
		resp := serve(t, app, loginRequest(creds[0], creds[1], "/settings"))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s/%s: status %d, want 401", creds[0], creds[1], resp.StatusCode)
		}
		if sessionCookie(resp) != nil {
			t.Errorf("%s/%s: session cookie set on failed login", creds[0], creds[1])
		}
		b := body(t, resp)
		if !strings.Contains(b, `id="login-error"`) || !strings.Contains(b, `action="/login"`) {
			t.Errorf("%s/%s: response lacks form or error:\n%s", creds[0], creds[1], b)
		}
		if !strings.Contains(b, `name="next" value="/settings"`) {
			t.Errorf("%s/%s: next not preserved", creds[0], creds[1])
		}
	}
	if _, ok := app.Login("alice", "wrong"); ok {
		t.Error("App.Login accepted a wrong password")
	}
}

func TestAPIMe(t *testing.T) {
	app := New(Options{})

	anon := serve(t, app, httptest.NewRequest(http.MethodGet, "/api/me", nil))
	if anon.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: status %d, want 401", anon.StatusCode)
	}
	var errBody map[string]string
	if err := json.NewDecoder(anon.Body).Decode(&errBody); err != nil || errBody["error"] != "not_logged_in" {
		t.Errorf("anonymous: body %v (err %v)", errBody, err)
	}
	if got := anon.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("anonymous: Cache-Control = %q", got)
	}

	bogus := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), "not-a-session"))
	if bogus.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token: status %d, want 401", bogus.StatusCode)
	}

	token := mustLogin(t, app, "alice", "alice-demo")
	resp := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), token))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logged in: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("logged in: Cache-Control = %q", got)
	}
	var me map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": "alice", "name": "Alice Admin", "email": "alice@acme.example",
		"phone": "+14155550101", "groups": []any{"general_settings:manager"},
	}
	for key, value := range want {
		if got, _ := json.Marshal(me[key]); string(got) != mustJSON(t, value) {
			t.Errorf("%s = %s, want %s", key, got, mustJSON(t, value))
		}
	}
	if _, leaked := me["password"]; leaked {
		t.Error("/api/me exposes the password")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLogoutEndsSession(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		app := New(Options{})
		token := mustLogin(t, app, "carol", "carol-demo")

		resp := serve(t, app, withSession(httptest.NewRequest(method, "/logout", nil), token))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("%s /logout: status %d Location %q", method, resp.StatusCode, resp.Header.Get("Location"))
		}
		if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
			t.Errorf("%s /logout: session cookie not expired: %v", method, c)
		}
		me := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), token))
		if me.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s /logout: session still valid (status %d)", method, me.StatusCode)
		}
	}

	app := New(Options{})
	token := mustLogin(t, app, "bob", "bob-demo")
	app.Logout(token)
	me := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), token))
	if me.StatusCode != http.StatusUnauthorized {
		t.Errorf("App.Logout: session still valid (status %d)", me.StatusCode)
	}
}

func TestPagesRedirectToLoginWhenLoggedOut(t *testing.T) {
	app := New(Options{})
	for path, want := range map[string]string{
		"/":                  "/login?next=/",
		"/reports":           "/login?next=/reports",
		"/reports/q3":        "/login?next=/reports/q3",
		"/settings":          "/login?next=/settings",
		"/account":           "/login?next=/account",
		"/reports?year=2024": "/login?next=/reports%3Fyear%3D2024",
	} {
		resp := serve(t, app, httptest.NewRequest(http.MethodGet, path, nil))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: status %d Location %q, want 303 %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestPagesShowSignedInUser(t *testing.T) {
	app := New(Options{})
	token := mustLogin(t, app, "bob", "bob-demo")
	for path, marker := range map[string]string{
		"/":           "Welcome, Bob Builder",
		"/reports":    `href="/reports/q3"`,
		"/reports/q3": "Q3 results by region",
		"/settings":   "Read-only",
		"/account":    `<dd id="account-phone">+14155550102</dd>`,
	} {
		resp := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, path, nil), token))
		b := body(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, resp.StatusCode)
			continue
		}
		for _, want := range []string{marker, `<p id="signed-in-as">Signed in as bob</p>`, `name="viewport"`, `action="/logout"`} {
			if !strings.Contains(b, want) {
				t.Errorf("GET %s: body lacks %q", path, want)
			}
		}
	}
}

func TestEchoDescribesReceivedRequest(t *testing.T) {
	app := New(Options{})
	token := mustLogin(t, app, "alice", "alice-demo")
	req := withSession(httptest.NewRequest(http.MethodPost, "/echo/deep/path?a=1&b=two", strings.NewReader("x")), token)
	req.Header.Set("X-Forwarded-User", "alice")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")

	resp := serve(t, app, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var echo struct {
		Method   string              `json:"method"`
		Path     string              `json:"path"`
		RawQuery string              `json:"raw_query"`
		Headers  map[string][]string `json:"headers"`
		User     *struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if echo.Method != http.MethodPost || echo.Path != "/echo/deep/path" || echo.RawQuery != "a=1&b=two" {
		t.Errorf("echo = %+v", echo)
	}
	if got := echo.Headers["X-Forwarded-User"]; !slices.Equal(got, []string{"alice"}) {
		t.Errorf("X-Forwarded-User = %v", got)
	}
	if got := echo.Headers["X-Multi"]; !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("X-Multi = %v", got)
	}
	if len(echo.Headers["Cookie"]) == 0 {
		t.Error("Cookie header missing from echo")
	}
	if echo.User == nil || echo.User.ID != "alice" {
		t.Errorf("user = %+v, want alice", echo.User)
	}

	anon := serve(t, app, httptest.NewRequest(http.MethodGet, "/echo", nil))
	if b := body(t, anon); anon.StatusCode != http.StatusOK || !strings.Contains(b, `"user": null`) {
		t.Errorf("anonymous /echo: status %d body %s", anon.StatusCode, b)
	}
}

func TestOnRequestSeesEveryRequest(t *testing.T) {
	var hits atomic.Int32
	var paths []string
	app := New(Options{OnRequest: func(r *http.Request) {
		hits.Add(1)
		paths = append(paths, r.URL.Path)
	}})
	for _, path := range []string{"/healthz", "/", "/api/me", "/no-such-page", "/static/app.css"} {
		serve(t, app, httptest.NewRequest(http.MethodGet, path, nil))
	}
	serve(t, app, loginRequest("alice", "alice-demo", "/"))
	if got := hits.Load(); got != 6 {
		t.Errorf("OnRequest called %d times, want 6 (paths %v)", got, paths)
	}
}

func TestHealthzAndStylesheet(t *testing.T) {
	app := New(Options{})
	health := serve(t, app, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if b := body(t, health); health.StatusCode != http.StatusOK || b != "ok" {
		t.Errorf("/healthz: status %d body %q", health.StatusCode, b)
	}
	css := serve(t, app, httptest.NewRequest(http.MethodGet, "/static/app.css", nil))
	if css.StatusCode != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("/static/app.css: status %d type %q", css.StatusCode, css.Header.Get("Content-Type"))
	}
}

func TestOptionsOverrideUsersAndOrgName(t *testing.T) {
	users := []User{{ID: "dave", Password: "dave-pass", Name: "Dave Doe"}}
	app := New(Options{Users: users, OrgName: "Initech"})
	users[0].Password = "changed-after-new"

	if _, ok := app.Login("alice", "alice-demo"); ok {
		t.Error("demo user accepted although custom users were given")
	}
	token := mustLogin(t, app, "dave", "dave-pass")
	resp := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/", nil), token))
	if b := body(t, resp); !strings.Contains(b, "Initech") || !strings.Contains(b, "Welcome, Dave Doe") {
		t.Errorf("custom org name or user missing:\n%s", b)
	}
	me := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), token))
	if b := body(t, me); !strings.Contains(b, `"groups": []`) {
		t.Errorf("user without groups should report an empty list: %s", b)
	}
}

func TestDefaultOrgName(t *testing.T) {
	resp := serve(t, New(Options{}), httptest.NewRequest(http.MethodGet, "/login", nil))
	if b := body(t, resp); !strings.Contains(b, "Acme Corp") {
		t.Error("default org name not shown")
	}
}

func TestKeepMeSignedInKnowsTheUserWithoutASession(t *testing.T) {
	app := New(Options{})
	form := url.Values{"username": {"bob"}, "password": {"bob-demo"}, "next": {"/"}, "remember": {"1"}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := serve(t, app, req)
	var remember *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == RememberCookieName {
			remember = c
		}
	}
	if remember == nil || remember.MaxAge <= 0 || !remember.HttpOnly {
		t.Fatalf("no lasting remember-me cookie: %v", resp.Cookies())
	}
	me := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	me.AddCookie(remember)
	if got := body(t, serve(t, app, me)); !strings.Contains(got, `"id": "bob"`) {
		t.Fatalf("remember-me alone: %s", got)
	}
	out := httptest.NewRequest(http.MethodGet, "/logout", nil)
	out.AddCookie(remember)
	serve(t, app, out)
	me = httptest.NewRequest(http.MethodGet, "/api/me", nil)
	me.AddCookie(remember)
	if r := serve(t, app, me); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("remember-me token outlived logout: %d", r.StatusCode)
	}
}

func TestKeepSessionAcrossLoginReusesTheToken(t *testing.T) {
	app := New(Options{KeepSessionAcrossLogin: true})
	token := mustLogin(t, app, "bob", "bob-demo")
	serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/logout", nil), token))
	resp := serve(t, app, withSession(loginRequest("carol", "carol-demo", "/"), token))
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) != nil {
		t.Fatalf("login set a new session: %d %v", resp.StatusCode, resp.Cookies())
	}
	me := serve(t, app, withSession(httptest.NewRequest(http.MethodGet, "/api/me", nil), token))
	if got := body(t, me); !strings.Contains(got, `"id": "carol"`) {
		t.Fatalf("the kept token is not carol's: %s", got)
	}
}
