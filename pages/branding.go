package pages

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Branding is how the pages look for one organisation; its name is
// Config.Org. The zero Branding is the finished default look.
type Branding struct {
	// Logo is shown beside the organisation's name: PNG, JPEG, GIF, WebP
	// or SVG, at most MaxLogoBytes. It is served by the module (no request
	// leaves for elsewhere) and cached by browsers.
	Logo []byte
	// Accent colours buttons and links: "#rrggbb" or "#rgb", the "#"
	// optional. Where it would
	// be hard to read, its lightness is adjusted (darker on the light
	// scheme, lighter on the dark one) until text keeps a WCAG AA contrast
	// of 4.5:1.
	Accent string
}

// MaxLogoBytes bounds the logo: it is part of every page's weight.
const MaxLogoBytes = 32 << 10

// LogoType returns the content type of a logo image, or an error that
// says what is wrong with it.
func LogoType(logo []byte) (string, error) {
	if len(logo) == 0 {
		return "", errors.New("logo: the image is empty")
	}
	if len(logo) > MaxLogoBytes {
		return "", fmt.Errorf("logo: %d bytes; at most %d (it is part of every page)", len(logo), MaxLogoBytes)
	}
	switch ct := http.DetectContentType(logo); ct {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return ct, nil
	}
	// SVG is text: markup whose first kilobyte opens an <svg> element
	// (after an XML declaration, a doctype or comments, if any).
	head := bytes.TrimSpace(logo[:min(len(logo), 1024)])
	if bytes.HasPrefix(head, []byte("<")) && bytes.Contains(head, []byte("<svg")) && !bytes.Contains(bytes.ToLower(head), []byte("<html")) {
		return "image/svg+xml", nil
	}
	return "", errors.New("logo: not a PNG, JPEG, GIF, WebP or SVG image")
}

// Backgrounds the accent must stay readable on: the light scheme's page
// background (darker than its cards) and the dark scheme's cards (lighter
// than its background), as in static/style.css.
var (
	lightBackground = rgb{0xf4, 0xf5, 0xf7}
	darkCard        = rgb{0x1d, 0x1f, 0x24}
)

// minTextContrast is WCAG 2's AA minimum for normal text.
const minTextContrast = 4.5

// accentCSS returns the stylesheet rules that apply an accent colour to
// both colour schemes, or "" for the default accent.
func accentCSS(accent string) (string, error) {
	if accent == "" {
		return "", nil
	}
	c, err := parseColour(accent)
	if err != nil {
		return "", err
	}
	light := c.towards(rgb{}, lightBackground)
	dark := c.towards(rgb{0xff, 0xff, 0xff}, darkCard)
	return fmt.Sprintf("\n/* accent from the site's configuration */\n:root { --accent: %s; --accent-text: #fff; }\n"+
		"@media (prefers-color-scheme: dark) { :root { --accent: %s; --accent-text: #0b1020; } }\n", light, dark), nil
}

type rgb struct{ r, g, b uint8 }

func (c rgb) String() string { return fmt.Sprintf("#%02x%02x%02x", c.r, c.g, c.b) }

// parseColour reads "#rgb" or "#rrggbb", the "#" optional (in a Caddyfile
// it would start a comment unless quoted).
func parseColour(s string) (rgb, error) {
	hex := strings.TrimPrefix(s, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	n, err := strconv.ParseUint(hex, 16, 32)
	if len(hex) != 6 || err != nil {
		return rgb{}, fmt.Errorf("accent %q: want a colour like 2557d6 or \"#2557d6\"", s)
	}
	return rgb{uint8(n >> 16), uint8(n >> 8), uint8(n)}, nil
}

// towards mixes c with target in small steps until it reads on bg.
func (c rgb) towards(target, bg rgb) rgb {
	for i := 0; i <= 20 && contrast(c, bg) < minTextContrast; i++ {
		c = rgb{mix(c.r, target.r), mix(c.g, target.g), mix(c.b, target.b)}
	}
	return c
}

func mix(a, b uint8) uint8 { return uint8(math.Round(float64(a)*0.9 + float64(b)*0.1)) }

// contrast is WCAG 2's contrast ratio of two colours.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2's relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}
