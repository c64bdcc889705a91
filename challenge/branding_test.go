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
	"github.com/caddy2fa/caddy2fa/policy"
)

func TestAccentStaysReadableInBothSchemes(t *testing.T) {
	for _, accent := range []string{"#2557d6", "2557d6", "#fff", "#000", "#ff0", "#ffff00", "#808080", "#0f0", "#7aa2ff", "#123456"} {
		css, err := accentCSS(accent)
		if err != nil {
			t.Fatalf("%s: %v", accent, err)
		}
		var light, dark string
		for _, line := range strings.Split(css, "\n") {
			if i := strings.Index(line, "--accent: "); i >= 0 {
				c := line[i+len("--accent: ") : i+len("--accent: ")+7]
				if strings.Contains(line, "prefers-color-scheme: dark") {
					dark = c
				} else {
					light = c
				}
			}
		}
		l, err1 := parseColour(light)
		d, err2 := parseColour(dark)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: rules without both colours:\n%s", accent, css)
		}
		// Links sit on the page and cards; button text is white on the
		// light scheme's accent and near-black on the dark one's.
		for what, ratio := range map[string]float64{
			"light: accent on page background": contrast(l, lightBackground),
			"light: white text on accent":      contrast(l, rgb{0xff, 0xff, 0xff}),
			"dark: accent on cards":            contrast(d, darkCard),
			"dark: button text on accent":      contrast(d, rgb{0x0b, 0x10, 0x20}),
		} {
			if ratio < minTextContrast {
				t.Errorf("%s → light %s, dark %s: %s contrast %.2f < 4.5", accent, light, dark, what, ratio)
			}
		}
	}
	// A colour that already reads well is kept as given.
	if css, _ := accentCSS("#2557d6"); !strings.Contains(css, ":root { --accent: #2557d6;") {
		t.Errorf("a readable accent was changed:\n%s", css)
	}
}

func TestAccentRefusesWhatIsNotAColour(t *testing.T) {
	for _, bad := range []string{"blue", "#12345", "#1234567", "#ggg", "#25 7d6", "#2557d6;}body{display:none", "red;", "+2557d6", "-2557d6"} {
		if _, err := accentCSS(bad); err == nil {
			t.Errorf("accent %q accepted", bad)
		}
	}
}

// A 1x1 PNG.
var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

func TestLogoTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		logo []byte
		want string
	}{
		"png":           {tinyPNG, "image/png"},
		"svg":           {[]byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>`), "image/svg+xml"},
		"xml svg":       {[]byte("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "image/svg+xml"},
		"doctype svg":   {[]byte("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n<!-- logo -->\n<svg/>"), "image/svg+xml"},
		"html":          {[]byte("<html><script>alert(1)</script></html>"), ""},
		"html with svg": {[]byte("<HTML><body><svg/><script>alert(1)</script></body></HTML>"), ""},
		"text":          {[]byte("hello"), ""},
		"empty":         {nil, ""},
		"too big":       {append(bytes.Clone(tinyPNG), make([]byte, MaxLogoBytes)...), ""},
	} {
		got, err := LogoType(tc.logo)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%s: LogoType = %q, %v; want %q", name, got, err, tc.want)
		}
	}
}

func TestBrandedPagesShowLogoAndAccent(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *policy.Policy) {
		c.Brand = Branding{Logo: tinyPNG, Accent: "#ff0"}
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

func TestBrandingRefusedWhenInvalid(t *testing.T) {
	for name, brand := range map[string]Branding{
		"accent":   {Accent: "blue"},
		"logo":     {Logo: []byte("<html>not an image</html>")},
		"big logo": {Logo: make([]byte, MaxLogoBytes+1)},
	} {
		if _, err := newRenderer(Config{PathPrefix: "/.2fa", Brand: brand}); err == nil {
			t.Errorf("%s: invalid branding accepted", name)
		}
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
	h := newHarness(t, func(c *Config, p *policy.Policy) {
		// A logo of a realistic 8 KiB, and devices to list.
		c.Brand = Branding{Logo: append(bytes.Clone(tinyPNG), make([]byte, 8<<10)...), Accent: "#0b7"}
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
