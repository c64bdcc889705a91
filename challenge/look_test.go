package challenge

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
)

func TestBrandedPagesShowLogoAndAccent(t *testing.T) {
	h := newHarness(t, func(c *siteConfig, _ *policy.Policy) {
		c.Brand = pages.Branding{Logo: tinyPNG, Accent: "#ff0"}
	})
	b := h.browser("alice", "s1")
	_, page := b.startEnrollment("/")
	logo := htmltest.AttrByID(strings.ReplaceAll(page.body, `class="logo"`, `id="logo" class="logo"`), "logo", "src")
	if !strings.HasPrefix(logo, "/.2fa/static/logo?v=") {
		t.Fatalf("no logo in the page header:\n%s", page.body)
	}
	img := b.get(logo)
	if img.status != http.StatusOK || img.header.Get("Content-Type") != "image/png" || img.body != string(tinyPNG) {
		t.Fatalf("logo: %d %q, %d bytes", img.status, img.header.Get("Content-Type"), len(img.body))
	}
	if csp := img.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("logo served without a sandboxing CSP: %q", csp)
	}
	css := b.get(stylesheetOf(t, page.body))
	// Yellow cannot be read on the light scheme: it is darkened there, and
	// kept on the dark one.
	if !strings.Contains(css.body, ":root { --accent: #") || strings.Contains(css.body, "\n:root { --accent: #ffff00") ||
		!strings.Contains(css.body, "{ :root { --accent: #ffff00") {
		t.Errorf("the stylesheet does not apply a readable accent:\n%s", css.body[max(0, len(css.body)-300):])
	}

	plain := newHarness(t).browser("bob", "s1")
	_, page = plain.startEnrollment("/")
	if strings.Contains(page.body, `class="logo"`) {
		t.Error("a logo without one configured")
	}
	if css := plain.get(stylesheetOf(t, page.body)); strings.Contains(css.body, "from the site's configuration") {
		t.Error("accent rules without an accent configured")
	}
}

// stylesheetOf returns the page's stylesheet URL.
func stylesheetOf(t *testing.T, body string) string {
	t.Helper()
	var href string
	htmltest.Walk(htmltest.Parse(t, body), func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "link" && htmltest.Attr(n, "rel") == "stylesheet" {
			href = htmltest.Attr(n, "href")
		}
	})
	if href == "" {
		t.Fatal("no stylesheet link")
	}
	return href
}

// Every page, with everything it loads (stylesheet, script, logo), stays
// under 50 KB; only the enrollment page's QR code image is extra.
func TestPageWeightUnderFiftyKB(t *testing.T) {
	const limit = 50 << 10
	h := newHarness(t, func(c *siteConfig, p *policy.Policy) {
		// A logo of a realistic 8 KiB, and devices to list.
		c.Brand = pages.Branding{Logo: append(bytes.Clone(tinyPNG), make([]byte, 8<<10)...), Accent: "#0b7"}
		p.RememberDays = 30
	})
	b := h.browser("alice", "s1")
	_, enroll := b.startEnrollment("/")
	pages := map[string]string{"enrollment": enroll.body}
	b.submitCode(enroll, h.code(htmltest.Text(enroll.body, "totp-key"), 0))
	for _, path := range []string{"/.2fa/methods", "/.2fa/devices", "/.2fa/no-such-page"} {
		pages[path] = b.get(path).body
	}
	h.advance(31 * time.Second)
	other := h.browser("alice", "s2")
	pages["verification"] = other.follow(other.get("/").location).body
	if !strings.Contains(pages["verification"], `name="code"`) {
		pages["verification"] = other.follow("/.2fa/verify/totp").body
	}
	qr := regexp.MustCompile(`src="data:image/png;base64,[^"]*"`)
	for name, body := range pages {
		total := len(qr.ReplaceAllString(body, `src=""`))
		var loads []string
		htmltest.Walk(htmltest.Parse(t, body), func(n *html.Node) {
			switch {
			case n.Type != html.ElementNode:
			case n.Data == "link" && htmltest.Attr(n, "rel") == "stylesheet":
				loads = append(loads, htmltest.Attr(n, "href"))
			case n.Data == "script" && htmltest.Attr(n, "src") != "":
				loads = append(loads, htmltest.Attr(n, "src"))
			case n.Data == "img" && !strings.HasPrefix(htmltest.Attr(n, "src"), "data:"):
				loads = append(loads, htmltest.Attr(n, "src"))
			}
		})
		for _, u := range loads {
			if !strings.HasPrefix(u, "/.2fa/static/") {
				t.Errorf("%s loads %q, not from the module", name, u)
				continue
			}
			r := b.get(u)
			if r.status != http.StatusOK {
				t.Errorf("%s: %s: %d", name, u, r.status)
			}
			total += len(r.body)
		}
		t.Logf("%s: %d bytes with %d files it loads", name, total, len(loads))
		if total > limit {
			t.Errorf("%s weighs %d bytes, over %d", name, total, limit)
		}
	}
}

// tinyPNG is a 1×1 PNG.
var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
