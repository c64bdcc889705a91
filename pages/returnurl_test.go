package pages

import (
	"net/url"
	"strings"
	"testing"
)

func TestOpenRedirectReturnURLsStayOnSite(t *testing.T) {
	for _, raw := range []string{
		"//evil.example", "/\\evil.example", "https://evil.example", "/%09/evil.example",
		"javascript:alert(1)", "\\/\\/evil", "/\t/evil.example", "//user@evil.example",
		"/%2f/evil.example", "/%5cevil.example", "http:/evil.example", " /x", "/x\r\nSet-Cookie: a=b",
		"evil.example", "", "/.2fa/verify", "/.2fa", "/.2fa/admin/confirm", strings.Repeat("/a", 2000),
	} {
		if got := SafeReturnPath(raw, "/.2fa"); got != "/" {
			t.Errorf("SafeReturnPath(%q) = %q, want /", raw, got)
		}
	}
	for _, ok := range []string{"/", "/reports/q3?year=2026", "/a/b?c=d&e=%2F", "/search?q=//x", "/.2fa/admin", "/.2fa/devices"} {
		if got := SafeReturnPath(ok, "/.2fa"); got != ok {
			t.Errorf("SafeReturnPath(%q) = %q, want it kept", ok, got)
		}
	}
}

func FuzzSafeReturnPath(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/\\evil", "/%2f%2fevil", "/a?b=c", "https://x", "/.2fa/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := SafeReturnPath(raw, "/.2fa")
		if got == "/" {
			return
		}
		// Whatever is kept must resolve to this origin in a browser.
		base, _ := url.Parse("https://app.example/here")
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("kept an unparseable URL %q", got)
		}
		if u := base.ResolveReference(ref); u.Host != "app.example" || u.Scheme != "https" {
			t.Fatalf("SafeReturnPath(%q) = %q leaves the site (%s)", raw, got, u)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t ") {
			t.Fatalf("SafeReturnPath(%q) = %q", raw, got)
		}
	})
}
