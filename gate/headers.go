package gate

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Identity headers are believed only when a trusted party set them: a
// proxy of this handler's trusted_proxies, or, for the headers it names,
// an earlier handler (forward_auth with copy_headers) that removes client
// copies. Every other copy is deleted before anything reads it, so it
// cannot reach the app either. Spellings with underscores (X_Remote_User)
// go always: CGI-style upstreams (PHP) read them as the real header, and
// no handler before us sets them.
type Headers struct {
	identity    []string // normalised: lower case, '_' as '-'
	fromHandler []string
	trusted     []netip.Prefix
}

// NewHeaders checks the configuration: the headers the identity reads,
// those an earlier handler sets (a subset), and the trusted proxies
// (addresses or CIDRs).
func NewHeaders(identity, fromHandler, trustedProxies []string) (*Headers, error) {
	h := &Headers{}
	for _, name := range identity {
		h.identity = append(h.identity, normalizeHeader(name))
	}
	for _, name := range fromHandler {
		n := normalizeHeader(name)
		if strings.Contains(name, "_") || !slices.Contains(h.identity, n) {
			return nil, fmt.Errorf("identity: headers_from_handler %q is not a header the identity reads", name)
		}
		h.fromHandler = append(h.fromHandler, n)
	}
	for _, c := range trustedProxies {
		p, err := parsePrefix(c)
		if err != nil {
			return nil, err
		}
		h.trusted = append(h.trusted, p)
	}
	return h, nil
}

// Strip deletes the identity headers the request may not carry.
func (h *Headers) Strip(r *http.Request) {
	if h == nil || len(h.identity) == 0 {
		return
	}
	trust := 0 // not asked yet; then 1 trusted, -1 not
	for name := range r.Header {
		if !isOneOf(name, h.identity) {
			continue
		}
		if !strings.ContainsRune(name, '_') {
			if isOneOf(name, h.fromHandler) {
				continue
			}
			if trust == 0 {
				trust = -1
				if h.trustedPeer(r) {
					trust = 1
				}
			}
			if trust == 1 {
				continue
			}
		}
		delete(r.Header, name)
	}
}

// trustedPeer: the connection comes from one of the trusted proxies. The
// server's own trusted_proxies option does not count: it says whose
// X-Forwarded-For to believe, not who may name users.
func (h *Headers) trustedPeer(r *http.Request) bool {
	if len(h.trusted) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range h.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// isOneOf compares name with each of the normalised names as
// normalizeHeader would, without building the normalised string (it runs
// for every header of every request).
func isOneOf(name string, normalised []string) bool {
	for _, want := range normalised {
		if len(name) == len(want) && sameHeaderName(name, want) {
			return true
		}
	}
	return false
}

// sameHeaderName: name equals want (already normalised, same length)
// ignoring ASCII case and reading '_' as '-'.
func sameHeaderName(name, want string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

func normalizeHeader(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted_proxies: %w", err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted_proxies: %w", err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// HeaderSpelling deletes a header the gateway sets for the app in every
// spelling an upstream could read as it (any case, '_' for '-'), so no
// client copy reaches the app beside or instead of ours.
type HeaderSpelling struct{ normalised string }

// NewHeaderSpelling is the header named name, in all its spellings.
func NewHeaderSpelling(name string) HeaderSpelling {
	return HeaderSpelling{normalised: normalizeHeader(name)}
}

// Delete removes every spelling of the header from h.
func (s HeaderSpelling) Delete(h http.Header) {
	for name := range h {
		if isOneOf(name, []string{s.normalised}) {
			delete(h, name)
		}
	}
}
