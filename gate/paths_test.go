package gate

import (
	"net/url"
	"testing"
)

// Every shape a server might resolve to somewhere else than it says is not
// a bypass path, even when it looks like one after cleaning.
func TestBypassPrefixTricksAreNotBypassed(t *testing.T) {
	b, err := NewBypass([]string{"/static/*", "/healthz"})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"/static/..;/admin", "/static/..%3B/admin", "/static/%2e%2e;/x", "/static/%252e%252e/admin",
		"/static/%2e%2e/admin", "/static/%2E%2E/admin", "/static/.%2e/admin", "/static/..%2fadmin",
		"/static/..%2Fadmin", "/static/..%5cadmin", "/static/..\\admin", "/static;x/app.css", "/static/app.css;jsessionid=1",
		"/static//../admin", "/static/./app.css", "/static/x/../../admin", "/static/../admin", "//static/app.css",
		"/static/%25", "/static/%", "/static/%2", "/healthz/", "/healthz;x", "/STATIC/app.css",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			u = &url.URL{Path: raw, RawPath: raw}
		}
		if b.Matches(raw, u.Path) {
			t.Errorf("%s is bypassed", raw)
		}
	}
	for _, raw := range []string{"/static/app.css", "/static/", "/static", "/static/a/b.js", "/healthz", "/static/%41pp.css", "/static/caf%C3%A9.png"} {
		u, _ := url.Parse(raw)
		if !b.Matches(raw, u.Path) {
			t.Errorf("%s is not bypassed", raw)
		}
	}
}

func TestNewBypassRefusesOddPatterns(t *testing.T) {
	for _, p := range []string{"static/*", "/st*tic/", "/static/../x", "/a;b", "/a//b"} {
		if _, err := NewBypass([]string{p}); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestControlCharactersInPathsAreRefused(t *testing.T) {
	for _, p := range []string{"/reports\x00", "/a\nb", "/a\tb", "/a\x7f"} {
		if CheckPath(p) == nil {
			t.Errorf("%q accepted", p)
		}
	}
	if CheckPath("/reports/caf\u00e9") != nil {
		t.Error("non-ASCII refused")
	}
}
