package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A cookie name's skeleton is what is left of it once every common
// reading is applied: percent-decoding (PHP and Rack decode names, and a
// decoded '%' may decode again), case folded the Unicode way (ASP.NET
// compares names ignoring case, and 'ſ' upper-cases to 'S'), and only
// ASCII letters and digits kept (PHP turns '.', ' ', '+' and '[' into '_',
// other stacks keep or trim separators). Every spelling that some stack
// reads as one name has that name's skeleton, so comparing skeletons finds
// them all; the price is refusing the rare pair of genuinely different
// names that differ only in punctuation or case.

// maxDecodeRounds bounds repeated percent-decoding ("%255F" is "%5F" is "_").
const maxDecodeRounds = 4

// skeleton appends the skeleton of name to dst.
func skeleton(dst []byte, name string) []byte {
	if strings.IndexByte(name, '%') >= 0 {
		name = percentDecodeRepeatedly(name)
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if b, ok := foldASCII(c); ok {
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(name[i:])
		i += n
		if f := unicode.ToLower(unicode.ToUpper(r)); f < utf8.RuneSelf {
			if b, ok := foldASCII(byte(f)); ok {
				dst = append(dst, b)
			}
		}
	}
	return dst
}

// foldASCII lower-cases a letter or keeps a digit; anything else is
// punctuation, which no skeleton holds.
func foldASCII(c byte) (byte, bool) {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return c, true
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A', true
	}
	return 0, false
}

// skeletonIs reports whether name's skeleton is want (itself a skeleton),
// stopping at the first difference: it runs for every '=' of every cookie
// of every request, and most candidates differ from the first letter.
func skeletonIs(name, want string) bool {
	k := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '%' || c >= utf8.RuneSelf {
			var buf [64]byte
			return string(skeleton(buf[:0], name)) == want
		}
		b, ok := foldASCII(c)
		if !ok {
			continue
		}
		if k == len(want) || want[k] != b {
			return false // nothing later changes what came before
		}
		k++
	}
	return k == len(want)
}

// percentDecodeRepeatedly decodes %XX escapes until none is left (or the
// rounds run out); invalid escapes stay as they are.
func percentDecodeRepeatedly(s string) string {
	for range maxDecodeRounds {
		if strings.IndexByte(s, '%') < 0 {
			return s
		}
		var b strings.Builder
		b.Grow(len(s))
		changed := false
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
				changed = true
				continue
			}
			b.WriteByte(s[i])
		}
		if !changed {
			return s
		}
		s = b.String()
	}
	return s
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// namePattern is a cookie name, or a pattern of one with '*' standing for
// any run of characters ("wordpress_logged_in_*").
type namePattern struct {
	raw  string
	skel []string // the skeletons of the pieces between the '*'s
}

func newNamePattern(p string) namePattern {
	np := namePattern{raw: p}
	for piece := range strings.SplitSeq(p, "*") {
		np.skel = append(np.skel, string(skeleton(nil, piece)))
	}
	return np
}

func (p namePattern) wildcard() bool { return len(p.skel) > 1 }

// exact reports whether name is spelled as the pattern says.
func (p namePattern) exact(name string) bool {
	if !p.wildcard() {
		return name == p.raw
	}
	return globMatch(strings.Split(p.raw, "*"), name)
}

// resembles reports whether some reading of name matches the pattern.
func (p namePattern) resembles(name string) bool {
	if !p.wildcard() {
		return skeletonIs(name, p.skel[0])
	}
	var buf [128]byte
	return globMatch(p.skel, string(skeleton(buf[:0], name)))
}

// globMatch matches s against pieces that were separated by '*' (two
// pieces or more).
func globMatch(pieces []string, s string) bool {
	first, last := pieces[0], pieces[len(pieces)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, mid := range pieces[1 : len(pieces)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}
