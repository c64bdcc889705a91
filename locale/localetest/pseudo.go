// Package localetest helps tests check the translations: a pseudo-locale
// made from the English messages, every string marked and lengthened, so
// a page rendered in it shows at a glance (and to a test) any text that
// does not come from the message files, and any layout that breaks with
// longer words.
package localetest

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/caddy2fa/caddy2fa/locale"
)

// PseudoTag is the pseudo-locale's language tag (the "accented English"
// pseudo-locale's).
const PseudoTag = "en-XA"

// Open and Close mark each pseudo-translated message.
const (
	Open  = "⟦"
	Close = "⟧"
)

// accents swaps ASCII letters for accented look-alikes: the text stays
// readable, and no English word survives.
var accents = map[rune]rune{
	'a': 'á', 'b': 'ƀ', 'c': 'ç', 'd': 'ð', 'e': 'é', 'f': 'ƒ', 'g': 'ĝ', 'h': 'ĥ', 'i': 'í', 'j': 'ĵ',
	'k': 'ķ', 'l': 'ľ', 'm': 'ɱ', 'n': 'ñ', 'o': 'ó', 'p': 'þ', 'q': 'ǫ', 'r': 'ŕ', 's': 'š', 't': 'ţ',
	'u': 'ú', 'v': 'ṽ', 'w': 'ŵ', 'x': 'ẋ', 'y': 'ý', 'z': 'ž',
	'A': 'Á', 'B': 'Ɓ', 'C': 'Ç', 'D': 'Ð', 'E': 'É', 'F': 'Ƒ', 'G': 'Ĝ', 'H': 'Ĥ', 'I': 'Í', 'J': 'Ĵ',
	'K': 'Ķ', 'L': 'Ľ', 'M': 'Ṁ', 'N': 'Ñ', 'O': 'Ó', 'P': 'Þ', 'Q': 'Ǫ', 'R': 'Ŕ', 'S': 'Š', 'T': 'Ţ',
	'U': 'Ú', 'V': 'Ṽ', 'W': 'Ŵ', 'X': 'Ẋ', 'Y': 'Ý', 'Z': 'Ž',
}

// Pseudo is the TOML message file (named PseudoTag+".toml") of every
// English message of c, pseudo-translated.
func Pseudo(c *locale.Catalog) []byte {
	en := c.Words(locale.English)
	out := map[string]any{}
	for _, id := range c.Messages(locale.English) {
		var text map[string]string
		// Plural messages: each form; others: "other".
		forms := en.Forms(id)
		text = make(map[string]string, len(forms))
		for form, s := range forms {
			text[form] = pseudo(s)
		}
		if id == "language.name" {
			text["other"] = pseudo("Pseudo")
		}
		if id == "language.direction" {
			text["other"] = "ltr"
		}
		out[id] = text
	}
	var buf bytes.Buffer
	// Dotted ids as quoted keys: one table per message.
	for id, forms := range out {
		fmt.Fprintf(&buf, "[%q]\n", id)
		if err := toml.NewEncoder(&buf).Encode(forms); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// pseudo marks s, accents its letters outside template actions and HTML
// tags, and lengthens it by 40% (translations run longer than English).
func pseudo(s string) string {
	var b strings.Builder
	letters := 0
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			end := strings.Index(s[i:], "}}")
			if end < 0 {
				end = len(s) - i - 2
			}
			b.WriteString(s[i : i+end+2])
			i += end + 2
		case s[i] == '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				end = len(s) - i - 1
			}
			b.WriteString(s[i : i+end+1])
			i += end + 1
		case s[i] == '&':
			end := strings.IndexByte(s[i:], ';')
			if end < 0 || end > 8 {
				end = 0
			}
			b.WriteString(s[i : i+end+1])
			i += end + 1
		default:
			r := rune(s[i])
			if a, ok := accents[r]; ok {
				b.WriteRune(a)
				letters++
			} else {
				b.WriteByte(s[i])
				if unicode.IsLetter(r) {
					letters++
				}
			}
			i++
		}
	}
	pad := strings.Repeat("·", (letters*4+9)/10)
	return Open + b.String() + pad + Close
}
