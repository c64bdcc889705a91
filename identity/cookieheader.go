package identity

import (
	"errors"
	"fmt"
	"strings"
)

// The Cookie header, read once, the way the application will read it.
//
// Browsers send "a=1; b=2", but the stacks behind a gateway read more than
// that: Go and Node trim spaces around names, Python also splits on spaces
// and commas, PHP decodes names and turns '.', ' ' and '[' into '_',
// ASP.NET ignores case, some take the first of two equal names and some the
// last. A header that hides the app's session cookie from the gateway but
// not from the app walks around the gate. So every part of the header is
// read all those ways at once: a part that any of them could take for a
// credential cookie must be exactly that cookie, spelled canonically, or
// the request is refused. What goes on to the app and to the lookup is
// rebuilt from what the gateway judged, so both read what it read.

// CookieRules say which cookies matter to the gateway.
type CookieRules struct {
	// Session is the app's session cookie: a new value is a new login.
	// "" when the gateway does not bind to an app session.
	Session string
	// Forward lists the cookies the who-am-I lookup gets, by name or by
	// pattern with '*' ("wordpress_logged_in_*"). Unused with ForwardAll.
	Forward []string
	// ForwardAll forwards every cookie but the gateway's own.
	ForwardAll bool
	// OwnPrefix starts the names of the gateway's own cookies (with or
	// without "__Host-"); they never reach the app or the lookup.
	OwnPrefix string
}

// CookieReader reads Cookie headers by a set of CookieRules. It is safe for
// concurrent use.
type CookieReader struct {
	// credentials are the names a part must not resemble unless it is
	// one of them exactly: the session cookie first, then the forwarded
	// ones (with ForwardAll, the lookup and the app read the same header,
	// so only the session cookie matters to the gateway's own judgement).
	credentials []namePattern
	// session says whether credentials[0] is the session cookie.
	session    bool
	forwardAll bool
	ownPrefix  string
}

// NewCookieReader checks the rules.
func NewCookieReader(rules CookieRules) (*CookieReader, error) {
	c := &CookieReader{forwardAll: rules.ForwardAll, ownPrefix: rules.OwnPrefix}
	if rules.Session != "" {
		if !isToken(rules.Session) {
			return nil, fmt.Errorf("identity: invalid session cookie name %q", rules.Session)
		}
		c.credentials = append(c.credentials, newNamePattern(rules.Session))
		c.session = true
	}
	if !rules.ForwardAll {
		for _, f := range rules.Forward {
			if !isToken(strings.ReplaceAll(f, "*", "x")) || strings.Trim(f, "*") == "" {
				return nil, fmt.Errorf("identity: invalid cookie name or pattern %q", f)
			}
			if f != rules.Session {
				c.credentials = append(c.credentials, newNamePattern(f))
			}
		}
	}
	for _, p := range c.credentials {
		if c.own(p.raw) {
			return nil, fmt.Errorf("identity: cookie %q has the prefix of the gateway's own cookies", p.raw)
		}
		if len(strings.Join(p.skel, "")) == 0 {
			return nil, fmt.Errorf("identity: cookie name %q has no letters or digits to recognise it by", p.raw)
		}
	}
	return c, nil
}

// Cookies is one request's Cookie header as the gateway read it.
type Cookies struct {
	// Session is the value of the session cookie ("" when absent). When a
	// browser sends the name twice (one per matching path), the first
	// counts and only it goes on.
	Session string
	// Upstream is the Cookie header the app gets: every cookie the gateway
	// kept, in order, without the gateway's own. Usually a part of the
	// request's own header, without a copy.
	Upstream string
	// Lookup is the Cookie header the who-am-I lookup gets.
	Lookup string
}

// AmbiguousCookieError says the header holds a cookie that some common
// stack could read as a credential cookie under another spelling.
type AmbiguousCookieError struct {
	// Resembles is the credential cookie it could be read as.
	Resembles string
	// Sent is the name as sent, at most 64 bytes of it.
	Sent string
}

func (e *AmbiguousCookieError) Error() string {
	return fmt.Sprintf("identity: cookie %q could be read as %q", e.Sent, e.Resembles)
}

// ErrAmbiguousCookie is what every AmbiguousCookieError is.
var ErrAmbiguousCookie = errors.New("identity: ambiguous cookie")

func (e *AmbiguousCookieError) Is(target error) bool { return target == ErrAmbiguousCookie }

// span is one kept cookie: line index and byte range in it.
type span struct{ line, start, end int }

// Read judges the request's Cookie header lines. An error (always an
// *AmbiguousCookieError) means the request must be refused.
func (c *CookieReader) Read(lines []string) (Cookies, error) {
	var out Cookies
	var keptBuf, fwdBuf [16]span
	kept, fwd := keptBuf[:0], fwdBuf[:0]
	var seenBuf [4]string // credential names already taken (first wins)
	seen := seenBuf[:0]
	for li, line := range lines {
		for off := 0; off <= len(line); {
			end := strings.IndexByte(line[off:], ';')
			if end < 0 {
				end = len(line) - off
			}
			start, stop := trimOWS(line, off, off+end)
			off += end + 1
			if start == stop {
				continue
			}
			part := line[start:stop]
			cred, keep, err := c.judge(part)
			if err != nil {
				return Cookies{}, err
			}
			if !keep {
				continue
			}
			s := span{li, start, stop}
			if cred >= 0 {
				name := part[:strings.IndexByte(part, '=')]
				if containsString(seen, name) {
					continue // a later copy: the first one counts
				}
				seen = append(seen, name)
				if cred == 0 && c.session {
					out.Session = unquote(part[len(name)+1:])
				}
				fwd = append(fwd, s)
			} else if c.forwardAll {
				fwd = append(fwd, s)
			}
			kept = append(kept, s)
		}
	}
	out.Upstream = joinSpans(lines, kept)
	if c.forwardAll {
		out.Lookup = out.Upstream
	} else {
		out.Lookup = joinSpans(lines, fwd)
	}
	return out, nil
}

// judge reads one trimmed, non-empty part. cred is the index of the
// credential it is (-1 for none); keep says whether it goes on at all.
func (c *CookieReader) judge(part string) (cred int, keep bool, err error) {
	eq := strings.IndexByte(part, '=')
	if eq < 0 {
		// A name without a value logs no one in, but Go reads it as an
		// empty cookie of that name: it must not resemble a credential.
		return -1, false, c.checkName(part, -1)
	}
	name, value := part[:eq], part[eq+1:]
	if c.own(name) && isToken(name) {
		// Ours never go on, so no other reader sees them: nothing to check.
		return -1, false, nil
	}
	cred = c.exactCredential(name)
	if err := c.checkName(name, cred); err != nil {
		return -1, false, err
	}
	// Python and servers that split on commas read a new name before each
	// later '=' that follows a space, tab, comma, quote or '='. One pass
	// over the value checks those names and what the value holds.
	// strict: RFC 6265 cookie-octets, optionally in a pair of quotes; a
	// credential's value must be read the same by every stack. lax: what
	// other cookies may hold and still go on (spaces, commas and non-ASCII
	// text are common in values browsers send; a quote inside, a backslash
	// or a control character would let quote-aware parsers read the header
	// differently).
	strict, lax := true, true
	from := eq + 1
	for i := from; i < len(part); i++ {
		for i < len(part) && valueByte[part[i]] == plainByte {
			i++
		}
		if i == len(part) {
			break
		}
		switch valueByte[part[i]] {
		case equalsByte:
			if err := c.checkOne(part[from:i], -1); err != nil {
				return -1, false, err
			}
			from = i + 1
		case quoteByte:
			// Only a pair around the whole value is a quoted value.
			from = i + 1
			wraps := quoteAtEnd(value, i-eq-1)
			strict, lax = strict && wraps, lax && wraps
		case separatorByte:
			from = i + 1
			strict = false
		case textByte:
			strict = false
		case badByte:
			strict, lax = false, false
		}
	}
	if cred >= 0 {
		if !strict {
			return -1, false, c.ambiguous(cred, name)
		}
		return cred, true, nil
	}
	if !lax || !isToken(name) {
		return -1, false, nil
	}
	return -1, true, nil
}

// checkName checks a part's name as a whole (PHP reads "legacy session" as
// legacy_session) and each run of it between separators (Python reads
// "x legacy_session" as two names). allowed is the credential the name is
// exactly, which it may of course resemble.
func (c *CookieReader) checkName(name string, allowed int) error {
	if err := c.checkOne(name, allowed); err != nil {
		return err
	}
	if !hasNameSeparator(name) {
		return nil
	}
	for run := range strings.FieldsFuncSeq(name, func(r rune) bool { return strings.ContainsRune(nameSeparators, r) }) {
		if err := c.checkOne(run, -1); err != nil {
			return err
		}
	}
	return nil
}

// checkOne refuses a name that some reading takes for a credential other
// than allowed; PHP also reads "name[x]" as an array called name.
func (c *CookieReader) checkOne(name string, allowed int) error {
	if hit := c.resembled(name); hit >= 0 && hit != allowed {
		return c.ambiguous(hit, name)
	}
	if i := strings.IndexByte(name, '['); i >= 0 {
		if hit := c.resembled(name[:i]); hit >= 0 {
			return c.ambiguous(hit, name)
		}
	}
	return nil
}

func (c *CookieReader) ambiguous(cred int, sent string) error {
	return &AmbiguousCookieError{Resembles: c.credentials[cred].raw, Sent: clip(sent, 64)}
}

// exactCredential is the index of the credential name is spelled as, or -1.
func (c *CookieReader) exactCredential(name string) int {
	for i, p := range c.credentials {
		if p.exact(name) {
			return i
		}
	}
	return -1
}

// resembled returns the index of the credential some reading of name is,
// or -1.
func (c *CookieReader) resembled(name string) int {
	if name == "" {
		return -1
	}
	for i, p := range c.credentials {
		if p.resembles(name) {
			return i
		}
	}
	return -1
}

// own reports whether the exact name is one of the gateway's cookies.
func (c *CookieReader) own(name string) bool {
	if c.ownPrefix == "" {
		return false
	}
	return strings.HasPrefix(strings.TrimPrefix(name, "__Host-"), c.ownPrefix)
}
