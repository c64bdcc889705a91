package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddy2fa/caddy2fa/identity"
)

// What the handler hands on of a request's credentials: one reading of
// the Cookie header (identity.CookieReader) whose result goes to the app
// and to the lookup alike.

// ownCookiePrefix starts every cookie of ours (see challenge/cookies.go).
const ownCookiePrefix = "2fa_"

// setUpstreamCookies gives the app the Cookie header the gateway judged:
// the request's own, without our cookies and without anything another
// stack could read differently. Usually it is the same text, set without
// a copy.
func setUpstreamCookies(r *http.Request, c identity.Cookies) {
	lines := r.Header["Cookie"]
	switch {
	case len(lines) == 0:
	case c.Upstream == "":
		delete(r.Header, "Cookie")
	case len(lines) == 1:
		lines[0] = c.Upstream
	default:
		r.Header["Cookie"] = []string{c.Upstream}
	}
}

// HeaderNames lists header names. In JSON it is an array; the boolean an
// earlier version took ("trust every identity header") is refused with a
// way forward, since keeping it would trust headers no handler sets.
type HeaderNames []string

// UnmarshalJSON implements json.Unmarshaler.
func (h *HeaderNames) UnmarshalJSON(b []byte) error {
	if s := strings.TrimSpace(string(b)); s == "true" || s == "false" {
		return errors.New(`headers_from_handler names the headers the earlier handler sets, such as ["X-Remote-User"]; it no longer takes true or false`)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	*h = names
	return nil
}
