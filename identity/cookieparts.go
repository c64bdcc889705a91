package identity

import "strings"

// The small readings the Cookie header reader is built of: byte classes of
// values, trimming, and putting the kept cookies back together.

// Classes of bytes in a cookie value, looked up per byte (values are the
// longest thing on the hot path: a session cookie of ours is ~250 bytes).
const (
	plainByte     = iota // an RFC 6265 cookie-octet
	equalsByte           // '=': a new name may end here
	quoteByte            // '"'
	separatorByte        // space, tab, comma: some stacks split here
	textByte             // non-ASCII: fine in other cookies' values
	badByte              // backslash, control characters, DEL
)

var valueByte = func() (t [256]uint8) {
	for b := range 256 {
		switch {
		case b == '=':
			t[b] = equalsByte
		case b == '"':
			t[b] = quoteByte
		case b == ' ' || b == '\t' || b == ',':
			t[b] = separatorByte
		case b >= 0x80:
			t[b] = textByte
		case b < 0x20 || b == 0x7f || b == '\\' || b == ';':
			t[b] = badByte
		}
	}
	return t
}()

// quoteAtEnd reports whether the quote at i of v is one of a pair that
// wraps the whole value.
func quoteAtEnd(v string, i int) bool {
	return len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && (i == 0 || i == len(v)-1)
}

// nameSeparators split a name for the stacks that split on more than ';'.
const nameSeparators = " \t,\""

func hasNameSeparator(name string) bool {
	for i := 0; i < len(name); i++ {
		if k := valueByte[name[i]]; k == separatorByte || k == quoteByte {
			return true
		}
	}
	return false
}

// trimOWS narrows line[start:end] to drop spaces and tabs at both ends.
func trimOWS(line string, start, end int) (int, int) {
	for start < end && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	return start, end
}

// joinSpans is the kept cookies as one header line: the request's own
// text when they are one run of one line with nothing but empty parts
// between them (the usual case: no copy), else a new "a=1; b=2" line.
func joinSpans(lines []string, spans []span) string {
	if len(spans) == 0 {
		return ""
	}
	first, last := spans[0], spans[len(spans)-1]
	if first.line == last.line {
		run := true
		for i := 1; i < len(spans) && run; i++ {
			gap := lines[first.line][spans[i-1].end:spans[i].start]
			run = spans[i].line == first.line && strings.Trim(gap, "; \t") == ""
		}
		if run {
			return lines[first.line][first.start:last.end]
		}
	}
	var b strings.Builder
	for i, s := range spans {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(lines[s.line][s.start:s.end])
	}
	return b.String()
}

// unquote drops the double quotes around a value, as Go and Node do. The
// app gets the value as sent; this is only the gateway's binding.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
