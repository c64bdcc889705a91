package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

// The cookie-name differential, through a real Caddy in front of apps that
// read cookies as PHP, Python, Node, a Java servlet container and Go do.
// The attacker knows the victim's password, so holds a session the app
// accepts, and has not passed the second factor: they try to hide that
// session from the gateway with every spelling of the cookie a stack
// might read. For every shape and every stack, the gateway refuses the
// request, or sees the session and challenges, or the app sees no session
// either: never "the app logged the victim in, the gateway saw nobody".

const victimToken = "T0k3n"

// cookieShapes hold {T} where the victim's session token goes; each line
// is one Cookie header.
var cookieShapes = []string{
	"legacy_session={T}",
	"a=1; legacy_session={T}; b=2",
	"legacy_session ={T}",
	"legacy_session= {T}",
	"legacy_session\t={T}",
	"a=1;\tlegacy_session={T}",
	"x=1 legacy_session={T}",
	"x=1, legacy_session={T}",
	"x=1,legacy_session={T}",
	"legacy.session={T}",
	"legacy session={T}",
	"legacy[session={T}",
	"legacy_session[x]={T}",
	"legacy+session={T}",
	"legacy%5Fsession={T}",
	"legacy%255Fsession={T}",
	"LEGACY_SESSION={T}",
	"Legacy_Session={T}",
	"legacy-session={T}",
	"legacy_\u017Fession={T}",
	"l\u00e9gacy_session={T}",
	"=legacy_session={T}",
	`a="x; legacy_session={T}"`,
	`legacy_session="{T}"`,
	`legacy_session="{T}`,
	`legacy_session={T}"`,
	"legacy_session={T} x",
	"legacy_session={T},x",
	"legacy_session={T}\u00e9",
	"legacy_session=decoy; legacy_session={T}",
	"legacy_session={T}; legacy_session=decoy",
	"a=1\nlegacy_session={T}",
	"legacy_session=decoy\nlegacy_session={T}",
	"$Version=1; legacy_session={T}; $Path=/",
	"big=" + strings.Repeat("a", 4096) + "; legacy_session={T}",
	strings.Repeat("c=1; ", 99) + "legacy_session={T}",
	"x=a\"; legacy_session={T}",
	"legacy_session",
	"legacy_session={T}; 2fa_session=forged",
}

// outcome of one shape against one stack.
const (
	refused    = "refused"    // the gateway answered 400
	challenged = "challenged" // the gateway saw the session and asked for a code
	noSession  = "no session" // the gateway let it through and the app saw no session
)

func TestCookieNameDifferentialNeverWalksAroundTheGate(t *testing.T) {
	parsers := testpeer.StartCookieParsers(t, victimToken)
	// Each stack twice: the lookup given every cookie (the default), and
	// only the session cookie, where nothing but the gateway's refusal
	// keeps a hidden session from the app.
	modes := []struct{ name, lookup string }{{"all cookies", ""}, {"session cookie only", "cookies legacy_session"}}
	ports := freePorts(t, len(parsers)*len(modes)-1)
	var cf strings.Builder
	cf.WriteString(`{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
	}
}
`)
	type site struct{ parser, mode, url string }
	var sites []site
	for _, m := range modes {
		for _, p := range parsers {
			addr := "http://127.0.0.1:{PORT}"
			if n := len(sites); n > 0 {
				addr = fmt.Sprintf("http://127.0.0.1:%d", ports[n-1])
			}
			fmt.Fprintf(&cf, `%s {
	twofactor {
		identity lookup %s/whoami {
			cookie legacy_session
			%s
		}
		policy {
			enforce
			methods totp
		}
	}
	reverse_proxy %s
}
`, addr, p.URL, m.lookup, strings.TrimPrefix(p.URL, "http://"))
			sites = append(sites, site{p.Name, m.name, addr})
		}
	}
	cp := startCaddy(t, t.TempDir(), cf.String())
	reader, err := identity.NewCookieReader(identity.CookieRules{Session: "legacy_session", ForwardAll: true, OwnPrefix: "2fa_"})
	if err != nil {
		t.Fatal(err)
	}

	table := map[string]map[string]string{}
	for _, shape := range cookieShapes {
		table[shape] = map[string]string{}
		for _, s := range sites {
			base := strings.ReplaceAll(s.url, "{PORT}", fmt.Sprint(cp.port))
			where := fmt.Sprintf("%s (%s), %q", s.parser, s.mode, shape)
			// The victim's session, hidden as well as the shape can.
			status, body := sendCookies(t, base+"/secret", strings.ReplaceAll(shape, "{T}", victimToken))
			var got string
			switch {
			case status == http.StatusBadRequest && strings.Contains(body, "malformed cookie"):
				got = refused
			case status == http.StatusFound:
				got = challenged
			case status == http.StatusUnauthorized && strings.TrimSpace(body) == "please log in":
				got = noSession
			case strings.Contains(body, "secret of the victim"):
				t.Errorf("%s: the app served the victim's page, the gateway saw no session", where)
				got = "WALKED AROUND"
			default:
				t.Errorf("%s: unexpected answer %d %.80q", where, status, body)
				got = fmt.Sprint(status)
			}
			if prev, ok := table[shape][s.parser]; ok && prev != got {
				t.Errorf("%s: %s, but %s with the other lookup", where, got, prev)
			}
			table[shape][s.parser] = got

			// Someone else's session in the same shape goes on; then the app
			// must read exactly what the gateway read.
			other := strings.ReplaceAll(shape, "{T}", "N0body")
			status, body = sendCookies(t, base+"/echo", other)
			if status == http.StatusBadRequest {
				if got != refused {
					t.Errorf("%s: refused with one token, not with another", where)
				}
				continue
			}
			judged, err := reader.Read(strings.Split(other, "\n"))
			if err != nil {
				t.Errorf("%s: the gateway let through what it refuses: %v", where, err)
				continue
			}
			var echo struct{ Session *string }
			if err := json.Unmarshal([]byte(body), &echo); err != nil {
				t.Errorf("%s: echo %d %.80q", where, status, body)
				continue
			}
			want, found := stackReads(s.parser, judged)
			if (echo.Session != nil) != found || found && *echo.Session != want {
				t.Errorf("%s: the app read the session as %v, the gateway as %q (found %v)", where, deref(echo.Session), judged.Session, found)
			}
		}
	}
	logShapeTable(t, parsers, table)
}

// sendCookies GETs url as a browser would, with each line of cookies as
// one Cookie header.
func sendCookies(t *testing.T, target, cookies string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for line := range strings.SplitSeq(cookies, "\n") {
		req.Header.Add("Cookie", line)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// stackReads is the session value a stack reads from the header the
// gateway passed on, given what the gateway judged: each stack's own way
// with values (PHP and Node percent-decode them; all but PHP drop quotes).
func stackReads(stack string, c identity.Cookies) (string, bool) {
	raw, found := "", false
	for part := range strings.SplitSeq(c.Upstream, ";") {
		if name, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && name == "legacy_session" {
			raw, found = v, true
			break
		}
	}
	if !found {
		return "", false
	}
	switch stack {
	case "php":
		v, _ := url.QueryUnescape(raw)
		return v, true
	case "node":
		v := strings.Trim(raw, `"`)
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		return v, true
	}
	return c.Session, true
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func logShapeTable(t *testing.T, parsers []testpeer.CookieParser, table map[string]map[string]string) {
	var b strings.Builder
	b.WriteString("| Cookie header |")
	for _, p := range parsers {
		b.WriteString(" " + p.Name + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(parsers)) + "\n")
	for _, shape := range cookieShapes {
		shown := strings.ReplaceAll(strings.ReplaceAll(shape, "{T}", "T"), "\n", " ⏎ ")
		if len(shown) > 60 {
			shown = shown[:28] + "…" + shown[len(shown)-28:]
		}
		fmt.Fprintf(&b, "| `%s` |", strings.ReplaceAll(shown, "|", "\\|"))
		for _, p := range parsers {
			b.WriteString(" " + table[shape][p.Name] + " |")
		}
		b.WriteString("\n")
	}
	t.Logf("%d Cookie header shapes × %d stacks:\n%s", len(cookieShapes), len(parsers), b.String())
}
