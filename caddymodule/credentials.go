package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/identity"
)

// What the handler reads of a request's credentials, and what it hands on:
// one reading of the Cookie header (identity.CookieReader) whose result
// goes to the app and to the lookup alike, and the lookup's cache kept in
// step with the app's own idea of who is logged in.

// ownCookiePrefix starts every cookie of ours (see challenge/cookies.go).
const ownCookiePrefix = "2fa_"

// provisionCookies builds the Cookie header reader: the session cookie
// and forwarded cookies are the names no other spelling may stand for.
func (h *Handler) provisionCookies(forward []string, forwardAll bool) error {
	c, err := identity.NewCookieReader(identity.CookieRules{
		Session:    h.SessionCookie,
		Forward:    forward,
		ForwardAll: forwardAll,
		OwnPrefix:  ownCookiePrefix,
	})
	if err != nil {
		return err
	}
	h.cookies = c
	return nil
}

func (h *Handler) provisionLookup(l *LookupConfig) error {
	if l.Cookie == "" {
		return errors.New("the app's session cookie is required: cookie <name>")
	}
	if h.SessionCookie == "" {
		h.SessionCookie = l.Cookie
	}
	neg := time.Duration(l.NegativeCache)
	lk, err := identity.NewLookup(identity.LookupConfig{
		URL: l.URL, Headers: l.Headers, SetHeaders: l.SetHeaders,
		CacheTTL: time.Duration(l.Cache), NegativeTTL: neg, Timeout: time.Duration(l.Timeout),
		Fields: l.Fields, GuestWhen: l.GuestWhen, GuestStatus: l.GuestStatus, LoginURL: l.LoginURL,
		ClientRate: l.ClientRate, TotalRate: l.TotalRate,
	})
	if err != nil {
		return err
	}
	h.lookup = lk
	forward := append([]string{l.Cookie}, l.Cookies...)
	if err := h.provisionCookies(forward, len(l.Cookies) == 0); err != nil {
		return err
	}
	for _, p := range l.LogoutPaths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("logout_paths: %q is not a path", p)
		}
	}
	h.logoutPaths = l.LogoutPaths
	h.authorizationForwarded = slices.Contains(lk.Headers(), "Authorization")
	names := append(slices.Clone(identity.DefaultURLSessionParams), h.cookies.CredentialNames()...)
	h.urlSessions = identity.NewURLSessionParams(append(names, l.URLSessionParams...))
	return nil
}

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

// credentials are what the lookup is asked about for this request.
func (h *Handler) credentials(r *http.Request, c identity.Cookies) identity.Credentials {
	creds := identity.Credentials{Cookie: c.Lookup, Client: clientIP(r)}
	if names := h.lookup.Headers(); len(names) > 0 {
		creds.Headers = make([]string, len(names))
		for i, name := range names {
			creds.Headers[i] = strings.Join(r.Header[name], ", ")
		}
	}
	return creds
}

// uncheckedCredential names a credential the app may accept that the
// lookup would not see: then the request is anonymous to the gateway but
// perhaps logged in to the app. Forwarded headers sent twice count too:
// stacks differ on which copy they read.
func (h *Handler) uncheckedCredential(r *http.Request) (string, bool) {
	if h.lookup == nil {
		return "", false
	}
	if _, ok := r.Header["Authorization"]; ok && !h.authorizationForwarded {
		return "an Authorization header", true
	}
	for _, name := range h.lookup.Headers() {
		if len(r.Header[name]) > 1 {
			return "the " + name + " header, sent twice", true
		}
	}
	if name, ok := h.urlSessions.Find(r.URL.Path, r.URL.RawQuery); ok {
		return "a session id in the address (" + name + ")", true
	}
	return "", false
}

// watchApp passes the request to the app and forgets the lookup's answer
// for its credentials whenever the app may have changed whose they are: a
// login or logout usually comes as a request that changes state, a visit
// to a logout path, or a Set-Cookie for a forwarded cookie. Apps that keep
// a session token across login would otherwise be served as the previous
// user until the cache entry ends.
func (h *Handler) watchApp(w http.ResponseWriter, r *http.Request, creds identity.Credentials, next caddyhttp.Handler) error {
	changesState := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
	logout := slices.Contains(h.logoutPaths, r.URL.Path)
	if changesState || logout {
		h.lookup.Forget(creds)
	}
	err := next.ServeHTTP(w, r)
	if changesState || logout || h.cookies.SetsForwarded(w.Header()["Set-Cookie"]) {
		h.lookup.Forget(creds)
	}
	return err
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
