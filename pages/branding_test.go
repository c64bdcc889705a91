package pages

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
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

func TestBrandingRefusedWhenInvalid(t *testing.T) {
	for name, brand := range map[string]Branding{
		"accent":   {Accent: "blue"},
		"logo":     {Logo: []byte("<html>not an image</html>")},
		"big logo": {Logo: make([]byte, MaxLogoBytes+1)},
	} {
		if _, err := New(Config{Prefix: "/.2fa", Brand: brand}); err == nil {
			t.Errorf("%s: invalid branding accepted", name)
		}
	}
}
