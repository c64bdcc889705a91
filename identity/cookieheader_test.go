package identity

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func demoReader(t testing.TB, rules CookieRules) *CookieReader {
	t.Helper()
	if rules.OwnPrefix == "" {
		rules.OwnPrefix = "2fa_"
	}
	c, err := NewCookieReader(rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cookieShapes are Cookie headers an attacker (or a sloppy browser
// extension) sends, with what the gateway must make of them: refuse, or
// read this session and pass on this header.
var cookieShapes = []struct {
	name, header string
	refuse       bool
	session      string
	upstream     string
}{
	{"canonical", "legacy_session=T", false, "T", "legacy_session=T"},
	{"canonical among others", "a=1; legacy_session=T; b=2", false, "T", "a=1; legacy_session=T; b=2"},
	{"no space after semicolon", "a=1;legacy_session=T;b=2", false, "T", "a=1;legacy_session=T;b=2"},
	{"space before the name's equals sign", "legacy_session =T", true, "", ""},
	{"space after the equals sign", "legacy_session= T", true, "", ""},
	{"tab before the name", "a=1;\tlegacy_session=T", false, "T", "a=1;\tlegacy_session=T"},
	{"python splits on space", "x=1 legacy_session=T", true, "", ""},
	{"python splits on comma", "x=1, legacy_session=T", true, "", ""},
	{"comma without space", "x=1,legacy_session=T", true, "", ""},
	{"php dot", "legacy.session=T", true, "", ""},
	{"php space inside the name", "legacy session=T", true, "", ""},
	{"php bracket", "legacy[session=T", true, "", ""},
	{"php array", "legacy_session[x]=T", true, "", ""},
	{"php plus", "legacy+session=T", true, "", ""},
	{"percent-encoded underscore", "legacy%5Fsession=T", true, "", ""},
	{"double percent-encoding", "legacy%255Fsession=T", true, "", ""},
	{"upper case (ASP.NET)", "LEGACY_SESSION=T", true, "", ""},
	{"dash instead of underscore", "legacy-session=T", true, "", ""},
	{"long s upper-cases to S", "legacy_\u017Fession=T", true, "", ""},
	{"kelvin sign is not a k", "legacy_session\u212A=T", false, "", ""},
	{"leading equals (empty name)", "=legacy_session=T", true, "", ""},
	{"quoted value hiding a cookie", `a="x; legacy_session=T"`, true, "", ""},
	{"quoted session value", `legacy_session="T"`, false, "T", `legacy_session="T"`},
	{"duplicate: first counts, only it goes on", "legacy_session=A; legacy_session=B", false, "A", "legacy_session=A"},
	{"duplicate on two lines", "legacy_session=A\nlegacy_session=B", false, "A", "legacy_session=A"},
	{"name without a value", "legacy_session", true, "", ""},
	{"empty parts", "; ;legacy_session=T;;", false, "T", "legacy_session=T"},
	{"equals in value (base64 padding)", "legacy_session=YWJj==; a=b=c", false, "YWJj==", "legacy_session=YWJj==; a=b=c"},
	{"session value with a space", "legacy_session=T x", true, "", ""},
	{"session value with a comma", "legacy_session=T,x", true, "", ""},
	{"session value non-ASCII", "legacy_session=T\u00e9", true, "", ""},
	{"backslash in another cookie is dropped", `a=x\y; legacy_session=T`, false, "T", "legacy_session=T"},
	{"quote inside another cookie is dropped", `a=x"y; legacy_session=T`, false, "T", "legacy_session=T"},
	{"other cookie with spaces goes on", "prefs=dark mode; legacy_session=T", false, "T", "prefs=dark mode; legacy_session=T"},
	{"non-ASCII name of another cookie dropped", "caf\u00e9=1; legacy_session=T", false, "T", "legacy_session=T"},
	{"ours removed", "2fa_session=abc; legacy_session=T; __Host-2fa_flow=x", false, "T", "legacy_session=T"},
	{"ours in the middle", "a=1; 2fa_session=abc; legacy_session=T", false, "T", "a=1; legacy_session=T"},
	{"a name merely containing the session name", "my_legacy_session_pref=1; legacy_session=T", false, "T", "my_legacy_session_pref=1; legacy_session=T"},
	{"a value naming the session cookie", "next=/x?legacy_session; legacy_session=T", false, "T", "next=/x?legacy_session; legacy_session=T"},
	{"separator then the name in a value", "next=a,legacy_session=1", true, "", ""},
	{"4 KiB value", "legacy_session=" + strings.Repeat("a", 4096), false, strings.Repeat("a", 4096), "legacy_session=" + strings.Repeat("a", 4096)},
	{"100 cookies", strings.Repeat("c=1; ", 99) + "legacy_session=T", false, "T", strings.Repeat("c=1; ", 99) + "legacy_session=T"},
}

func TestCookieHeaderShapes(t *testing.T) {
	c := demoReader(t, CookieRules{Session: "legacy_session", ForwardAll: true})
	for _, tc := range cookieShapes {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Read(strings.Split(tc.header, "\n"))
			if tc.refuse {
				if !errors.Is(err, ErrAmbiguousCookie) {
					t.Fatalf("%q: read as %+v, %v; want it refused", tc.header, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tc.header, err)
			}
			if got.Session != tc.session || got.Upstream != tc.upstream || got.Lookup != tc.upstream {
				t.Fatalf("%q: session %q upstream %q lookup %q; want %q, %q", tc.header, got.Session, got.Upstream, got.Lookup, tc.session, tc.upstream)
			}
		})
	}
}

func TestCookiePatternsProtectEveryForwardedCookie(t *testing.T) {
	c := demoReader(t, CookieRules{Session: "sid", Forward: []string{"uid", "wordpress_logged_in_*"}})
	for _, h := range []string{"uid =5", "UID=5", "u.id=5", "wordpress.logged_in_abc=1", "x=1 wordpress_logged_in_abc=1", "WordPress_Logged_In_x=1"} {
		if _, err := c.Read([]string{h}); !errors.Is(err, ErrAmbiguousCookie) {
			t.Errorf("%q was not refused: %v", h, err)
		}
	}
	got, err := c.Read([]string{"theme=dark; sid=S; uid=5; uid=6; wordpress_logged_in_abc=W; 2fa_session=x"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Session != "S" || got.Lookup != "sid=S; uid=5; wordpress_logged_in_abc=W" || got.Upstream != "theme=dark; sid=S; uid=5; wordpress_logged_in_abc=W" {
		t.Fatalf("%+v", got)
	}
}

func TestCookieReaderWithoutSessionRefusesNothing(t *testing.T) {
	c := demoReader(t, CookieRules{})
	got, err := c.Read([]string{"legacy session=1; a=2; 2fa_csrf=x"})
	if err != nil || got.Session != "" || got.Upstream != "a=2" {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestNewCookieReaderRefusesUnrecognisableNames(t *testing.T) {
	for _, r := range []CookieRules{{Session: "a b"}, {Session: "__"}, {Forward: []string{"*"}}, {Forward: []string{"a;b"}}} {
		if _, err := NewCookieReader(r); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}

func TestReadingACanonicalHeaderDoesNotAllocate(t *testing.T) {
	c := demoReader(t, CookieRules{Session: "legacy_session", ForwardAll: true})
	lines := []string{"legacy_session=YWJjZGVmZ2hpamtsbW5vcA; theme=dark; 2fa_session=MTcwMDAwMDAwMHxabc-def_ghi=="}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := c.Read(lines); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// goFirstCookie is what net/http's Request.Cookie reads for name.
func goFirstCookie(lines []string, name string) (string, bool) {
	r := &http.Request{Header: http.Header{"Cookie": lines}}
	ck, err := r.Cookie(name)
	if err != nil {
		return "", false
	}
	return ck.Value, true
}

// FuzzCookieHeader: whatever the header, either the gateway refuses it, or
// Go's net/http reads the same session cookie from the request and from
// the header the app gets.
func FuzzCookieHeader(f *testing.F) {
	for _, tc := range cookieShapes {
		f.Add(tc.header)
	}
	c := demoReader(f, CookieRules{Session: "legacy_session", ForwardAll: true})
	f.Fuzz(func(t *testing.T, header string) {
		lines := strings.Split(header, "\n")
		got, err := c.Read(lines)
		if err != nil {
			return
		}
		if v, _ := goFirstCookie(lines, "legacy_session"); v != got.Session {
			t.Fatalf("%q: net/http reads the session as %q, the gateway as %q", header, v, got.Session)
		}
		if v, _ := goFirstCookie([]string{got.Upstream}, "legacy_session"); v != got.Session {
			t.Fatalf("%q: the app gets %q and reads the session as %q, the gateway as %q", header, got.Upstream, v, got.Session)
		}
		if strings.Contains(got.Upstream, "2fa_") && strings.Contains(header, "2fa_session=") && !strings.Contains(header, "legacy") {
			for _, part := range strings.Split(got.Upstream, ";") {
				if strings.HasPrefix(strings.TrimSpace(part), "2fa_") {
					t.Fatalf("%q: our cookie goes on: %q", header, got.Upstream)
				}
			}
		}
	})
}

func BenchmarkReadCookieHeader(b *testing.B) {
	c := demoReader(b, CookieRules{Session: "legacy_session", ForwardAll: true})
	lines := []string{"legacy_session=YWJjZGVmZ2hpamtsbW5vcA; theme=dark; 2fa_session=" + strings.Repeat("MTcwMDAw", 28) + "=="}
	b.ReportAllocs()
	for b.Loop() {
		c.Read(lines)
	}
}
