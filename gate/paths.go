package gate

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Bypass paths are never challenged, so the gateway must read them the
// way every server behind it does. Servers disagree about more than ".."
// and "/": Tomcat, Jetty and Spring drop ";" path parameters, so
// "/static/..;/admin" is "/admin" to them; others decode "%2e", "%2f",
// "%5c" or "%25" before they resolve the path; IIS reads "\" as "/". A
// path that any of them could read differently from what it says is
// simply not a bypass path: an unverified user is challenged there, a
// verified one reaches the app as anywhere else.

// Bypass matches request paths against exact paths and "/prefix/*"
// patterns.
type Bypass struct {
	exact    map[string]bool
	prefixes []string
}

// NewBypass checks the patterns: a path such as /healthz, or a prefix such
// as /static/*.
func NewBypass(patterns []string) (*Bypass, error) {
	b := &Bypass{exact: map[string]bool{}}
	for _, p := range patterns {
		pre, wild := strings.CutSuffix(p, "*")
		if !strings.HasPrefix(p, "/") || strings.Contains(pre, "*") || !Canonical(pre, pre) {
			return nil, fmt.Errorf("bypass %q: use a plain path such as /healthz or a prefix such as /static/*", p)
		}
		if wild {
			b.prefixes = append(b.prefixes, pre)
		} else {
			b.exact[p] = true
		}
	}
	return b, nil
}

// Matches reports whether a request may skip the challenge: its path is
// one every server reads as written (see Canonical) and is a bypass path.
// rawPath is the path as sent (escaped), decoded its decoded form.
func (b *Bypass) Matches(rawPath, decoded string) bool {
	if b == nil || len(b.exact) == 0 && len(b.prefixes) == 0 || !Canonical(rawPath, decoded) {
		return false
	}
	if b.exact[decoded] {
		return true
	}
	for _, pre := range b.prefixes {
		if strings.HasPrefix(decoded, pre) || decoded+"/" == pre {
			return true
		}
	}
	return false
}

// Canonical reports whether every common server reads the path as
// written: no ';' (path parameters), no escaped '/', '\', '.', ';' or '%',
// no '\', and nothing path.Clean would change ("//", "/./", "/../"; a
// trailing slash is fine). rawPath is the path as sent, or as close as the
// URL keeps it (url.URL.EscapedPath); the checks on decoded hold even
// where the escaping was lost.
func Canonical(rawPath, decoded string) bool {
	// A '%' left after decoding was sent as "%25": decoded twice by some.
	if strings.ContainsAny(rawPath, ";\\") || strings.ContainsAny(decoded, ";\\%") {
		return false
	}
	for i := strings.IndexByte(rawPath, '%'); i >= 0; i = strings.IndexByte(rawPath, '%') {
		if i+2 >= len(rawPath) {
			return false
		}
		switch strings.ToLower(rawPath[i+1 : i+3]) {
		case "2f", "5c", "2e", "3b", "25":
			return false
		}
		rawPath = rawPath[i+3:]
	}
	trimmed := decoded
	if len(trimmed) > 1 {
		trimmed = strings.TrimSuffix(trimmed, "/")
	}
	return path.Clean(decoded) == trimmed
}

// ErrControlInPath: NUL or another control character in the path, which
// servers truncate, strip or reject, each in their own way.
var ErrControlInPath = errors.New("gate: control character in the path")

// CheckPath refuses paths with control characters, for everyone.
func CheckPath(decoded string) error {
	for i := 0; i < len(decoded); i++ {
		if c := decoded[i]; c < 0x20 || c == 0x7f {
			return ErrControlInPath
		}
	}
	return nil
}
