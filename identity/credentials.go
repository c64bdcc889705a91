package identity

import "strings"

// Credentials other than cookies: apps also log users in with a session
// id in the URL (Java's ";jsessionid=", PHP's "?PHPSESSID=") or an
// Authorization header. A request that carries one which the who-am-I
// lookup is not given would be anonymous to the gateway and logged in to
// the app, so the gateway refuses it.

// DefaultURLSessionParams are the URL session ids common stacks accept.
var DefaultURLSessionParams = []string{"jsessionid", "phpsessid"}

// URLSessionParams recognises URL session ids by name, in every spelling
// some stack reads as that name.
type URLSessionParams struct{ skel []string }

// NewURLSessionParams recognises the given names (and their spellings).
func NewURLSessionParams(names []string) URLSessionParams {
	var p URLSessionParams
	for _, n := range names {
		if sk := string(skeleton(nil, n)); sk != "" && !containsString(p.skel, sk) {
			p.skel = append(p.skel, sk)
		}
	}
	return p
}

// Find returns the first session id parameter in the path's ';'
// parameters (any segment) or in the query, as sent.
func (p URLSessionParams) Find(path, rawQuery string) (string, bool) {
	if len(p.skel) == 0 {
		return "", false
	}
	if i := strings.IndexByte(path, ';'); i >= 0 {
		for seg := range strings.SplitSeq(path[i:], "/") {
			params := strings.Split(seg, ";")
			for _, param := range params[1:] {
				if name, ok := p.match(param); ok {
					return name, true
				}
			}
		}
	}
	// Some stacks split queries on ';' as well as '&'.
	for rawQuery != "" {
		var param string
		if i := strings.IndexAny(rawQuery, "&;"); i >= 0 {
			param, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			param, rawQuery = rawQuery, ""
		}
		if name, ok := p.match(param); ok {
			return name, true
		}
	}
	return "", false
}

func (p URLSessionParams) match(param string) (string, bool) {
	name, _, _ := strings.Cut(param, "=")
	name = strings.TrimSpace(name)
	for _, sk := range p.skel {
		if skeletonIs(name, sk) {
			return clip(name, 64), true
		}
	}
	return "", false
}

// SetsForwarded reports whether the app's Set-Cookie headers set or clear
// a cookie the lookup is given: then a cached answer for the old cookies
// may no longer say who the browser is.
func (c *CookieReader) SetsForwarded(setCookies []string) bool {
	for _, sc := range setCookies {
		name, _, _ := strings.Cut(sc, "=")
		name = strings.TrimSpace(name)
		if name == "" || c.own(name) {
			continue
		}
		if c.forwardAll || c.exactCredential(name) >= 0 || c.resembled(name) >= 0 {
			return true
		}
	}
	return false
}

// CredentialNames are the exact (not patterned) names of the session and
// forwarded cookies, which apps may also accept in URLs.
func (c *CookieReader) CredentialNames() []string {
	var names []string
	for _, p := range c.credentials {
		if !p.wildcard() {
			names = append(names, p.raw)
		}
	}
	return names
}
