// Package identity answers "who is this request": the user the protected
// application has already logged in, or no one. It knows two sources:
// placeholder templates filled in by the host server (Templates), and the
// application's own "who am I" endpoint (Lookup).
//
// Every value is sanitised before it is used: surrounding spaces are
// trimmed, and a value holding control characters, invalid UTF-8 or more
// bytes than its bound is treated as absent. An identity without an ID is
// no identity at all.
package identity

import (
	"net/textproto"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on sanitised values, in bytes (and, for groups, in count).
const (
	MaxIDLen    = 256
	MaxEmailLen = 254
	MaxPhoneLen = 32
	MaxNameLen  = 256
	MaxGroups   = 64
	MaxGroupLen = 128
)

// Identity is the user behind one request.
type Identity struct {
	// ID identifies the user. It is case-preserving and ids are compared
	// exactly: "Alice" and "alice" are two different users, because the
	// application, not the gateway, decides what an id means.
	ID    string
	Email string
	Phone string
	Name  string
	// Groups the application puts the user in. Treat it as read-only.
	Groups []string
	// AppSession is the app's session token for this request (opaque; ""
	// when not visible). It is only ever hashed, never stored.
	AppSession string
}

// Known reports whether the request has a user at all.
func (id Identity) Known() bool { return id.ID != "" }

// HasGroup reports whether the user is in group g (exact match).
func (id Identity) HasGroup(g string) bool {
	return g != "" && slices.Contains(id.Groups, g)
}

// Templates are placeholder templates, one per field, such as
// "{http.auth.user.id}" or "{http.request.header.X-Remote-Email}". An empty
// template leaves its field empty.
type Templates struct {
	ID, Email, Phone, Name, Groups string
}

// Resolve fills in the templates with expand and sanitises the results.
// A template that expands to nothing, or that still holds one of its own
// placeholders afterwards (the host left it unexpanded), gives an empty
// field. Groups are split on commas and/or whitespace. The zero Identity is
// returned when the ID is empty or rejected. AppSession is left empty; see
// AppSessionFromCookie.
func (t Templates) Resolve(expand func(string) string) Identity {
	id := cleanValue(expandTemplate(t.ID, expand), MaxIDLen)
	if id == "" {
		return Identity{}
	}
	return Identity{
		ID:     id,
		Email:  cleanValue(expandTemplate(t.Email, expand), MaxEmailLen),
		Phone:  cleanValue(expandTemplate(t.Phone, expand), MaxPhoneLen),
		Name:   cleanValue(expandTemplate(t.Name, expand), MaxNameLen),
		Groups: parseGroups(expandTemplate(t.Groups, expand)),
	}
}

// expandTemplate returns "" for an empty template, and for a result that
// still contains any placeholder of the template: a host that does not know
// a placeholder may leave it in place, and that text is not a user's value.
func expandTemplate(tmpl string, expand func(string) string) string {
	if tmpl == "" {
		return ""
	}
	out := expand(tmpl)
	if out == "" || out == tmpl {
		return ""
	}
	for rest := tmpl; ; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			return out
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return out
		}
		if strings.Contains(out, rest[open:open+end+1]) {
			return ""
		}
		rest = rest[open+end+1:]
	}
}

// Placeholder prefixes that read a request header: the runtime form and the
// Caddyfile shorthand.
var headerPlaceholderPrefixes = []string{"{http.request.header.", "{header."}

// SingleHeader reports whether tmpl is exactly one runtime request-header
// placeholder, {http.request.header.NAME}, and returns NAME canonicalised.
// Such a template expands to the header's values joined with commas (as
// Caddy's replacer does), which the caller can read without the replacer.
func SingleHeader(tmpl string) (string, bool) {
	const prefix = "{http.request.header."
	if !strings.HasPrefix(tmpl, prefix) || !strings.HasSuffix(tmpl, "}") {
		return "", false
	}
	name := tmpl[len(prefix) : len(tmpl)-1]
	if !isToken(name) {
		return "", false
	}
	return textproto.CanonicalMIMEHeaderKey(name), true
}

// SinglePlaceholder reports whether tmpl is exactly one placeholder,
// {KEY}, and returns KEY.
func SinglePlaceholder(tmpl string) (string, bool) {
	if len(tmpl) < 3 || tmpl[0] != '{' || tmpl[len(tmpl)-1] != '}' {
		return "", false
	}
	key := tmpl[1 : len(tmpl)-1]
	if strings.ContainsAny(key, "{}\\ ") {
		return "", false
	}
	return key, true
}

// HeaderNames lists the request headers the templates read (from
// {http.request.header.NAME} placeholders), canonicalised and without
// duplicates, so the caller can delete client-sent copies when the client is
// not trusted. It returns nil when no template reads a header.
func (t Templates) HeaderNames() []string {
	var names []string
	for _, tmpl := range [...]string{t.ID, t.Email, t.Phone, t.Name, t.Groups} {
		for _, prefix := range headerPlaceholderPrefixes {
			rest := tmpl
			for {
				i := strings.Index(rest, prefix)
				if i < 0 {
					break
				}
				rest = rest[i+len(prefix):]
				end := strings.IndexByte(rest, '}')
				if end < 0 {
					break
				}
				name := rest[:end]
				rest = rest[end+1:]
				if !isToken(name) {
					continue
				}
				name = textproto.CanonicalMIMEHeaderKey(name)
				if !slices.Contains(names, name) {
					names = append(names, name)
				}
			}
		}
	}
	return names
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110), the only
// form a header name can take.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// cleanValue trims s and returns it, or "" when it is longer than max bytes
// or holds anything that could forge log lines or confuse comparisons.
func cleanValue(s string, max int) string {
	s = strings.TrimSpace(s)
	if len(s) > max || !printable(s) {
		return ""
	}
	return s
}

// printable reports whether s is valid UTF-8 without control characters or
// line/paragraph separators.
func printable(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// parseGroups splits s on commas and whitespace, dropping invalid and
// repeated names. More than MaxGroups names reject the whole list rather
// than keep an arbitrary part of it.
func parseGroups(s string) []string {
	if s == "" {
		return nil
	}
	var groups []string
	n := 0
	for part := range strings.FieldsFuncSeq(s, isGroupSeparator) {
		if n++; n > MaxGroups {
			return nil
		}
		groups = appendGroup(groups, part)
	}
	return groups
}

func isGroupSeparator(r rune) bool { return r == ',' || unicode.IsSpace(r) }

// appendGroup adds one sanitised group name unless it is invalid or there.
func appendGroup(groups []string, g string) []string {
	g = cleanValue(g, MaxGroupLen)
	if g == "" || slices.Contains(groups, g) {
		return groups
	}
	return append(groups, g)
}
