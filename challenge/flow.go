package challenge

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/store"
)

type flowRef struct {
	ID string `json:"f"`
}

// startFlow opens (or reuses) the user's challenge and records where they
// were going. It also records the user's identity for admins.
func (s *Service) startFlow(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string) (*accounts.Flow, error) {
	ctx := r.Context()
	if _, err := s.rememberUser(ctx, id); err != nil {
		return nil, err
	}
	returnTo = SafeReturnPath(returnTo, s.cfg.PathPrefix)
	if f, err := s.loadFlow(r, id); err == nil {
		if f.Return == returnTo {
			return f, nil
		}
		return s.updateFlow(ctx, f.ID, func(f *accounts.Flow) error { f.Return = returnTo; return nil })
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	f := &accounts.Flow{
		ID: randomToken(16), User: id.ID, App: s.codec.AppBinding(id.AppSession),
		Return: returnTo, Created: s.cfg.Now().UTC(),
	}
	if err := accounts.PutFlow(ctx, s.backend, s.cfg.Realm, f, s.cfg.FlowLifetime); err != nil {
		return nil, err
	}
	ref, err := s.ring.EncodeCookie(accounts.FlowCookie, flowRef{ID: f.ID})
	if err != nil {
		return nil, err
	}
	setCookie(w, r, accounts.FlowCookie, ref, s.cfg.FlowLifetime)
	return f, nil
}

// loadFlow finds the request's open challenge; ErrNotFound when there is
// none for this user and app session.
func (s *Service) loadFlow(r *http.Request, id identity.Identity) (*accounts.Flow, error) {
	flowID, ok := s.flowRef(r)
	if !ok {
		return nil, store.ErrNotFound
	}
	f := new(accounts.Flow)
	if err := s.getJSON(r.Context(), accounts.Keys{Realm: s.cfg.Realm}.Flow(flowID), f); err != nil {
		return nil, err
	}
	// A challenge belongs to one user and one app session: another user's
	// (or another session's) flow cookie is worthless.
	if f.User != id.ID || subtle.ConstantTimeCompare([]byte(f.App), []byte(s.codec.AppBinding(id.AppSession))) != 1 {
		return nil, store.ErrNotFound
	}
	return f, nil
}

// flowRef returns the challenge ID the flow cookie names, if it has a
// valid one.
func (s *Service) flowRef(r *http.Request) (string, bool) {
	raw := readCookie(r, accounts.FlowCookie)
	if raw == "" {
		return "", false
	}
	var ref flowRef
	if err := s.ring.DecodeCookie(accounts.FlowCookie, raw, &ref); err != nil {
		return "", false
	}
	return ref.ID, true
}

func (s *Service) updateFlow(ctx context.Context, flowID string, fn func(*accounts.Flow) error) (*accounts.Flow, error) {
	return accounts.UpdateFlow(ctx, s.backend, s.cfg.Realm, flowID, s.cfg.FlowLifetime, s.cfg.Now(), fn)
}

func (s *Service) endFlow(w http.ResponseWriter, r *http.Request, f *accounts.Flow) {
	if err := accounts.DeleteFlow(r.Context(), s.backend, s.cfg.Realm, f.ID); err != nil {
		s.cfg.Logger.Warn("could not delete a finished challenge; it expires by itself", "error", err)
	}
	clearCookie(w, r, accounts.FlowCookie)
}

// rememberUser records what the identity source says about a user.
func (s *Service) rememberUser(ctx context.Context, id identity.Identity) (*accounts.User, error) {
	return accounts.RememberUser(ctx, s.backend, s.cfg.Realm, id, s.cfg.Now())
}

// returnablePages are our pages a user may be sent back to after passing
// a challenge; every other path under the prefix would loop.
var returnablePages = []string{"/admin", "/methods", "/devices", "/enroll", "/enroll/totp", "/enroll/email", "/enroll/sms"}

// SafeReturnPath turns a would-be return URL into a path on this site:
// anything that a browser could read as another origin, or that points
// back into our own pages, becomes "/".
func SafeReturnPath(raw, prefix string) string {
	const home = "/"
	if raw == "" || len(raw) > 2048 {
		return home
	}
	for _, c := range raw {
		// Control characters, spaces and backslashes: browsers strip or
		// reinterpret them ("/\evil" is "//evil" to them).
		if c < 0x21 || c == 0x7f || c == '\\' {
			return home
		}
	}
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return home
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	// Decoded forms too: "/%2f/evil" or "/%5cevil" must not become a
	// network-path reference after a proxy decodes it.
	dec, err := url.PathUnescape(u.EscapedPath())
	if err != nil || strings.ContainsAny(dec, "\\") {
		return home
	}
	for _, c := range dec {
		if c < 0x20 || c == 0x7f {
			return home
		}
	}
	if strings.HasPrefix(strings.ReplaceAll(dec, " ", ""), "//") {
		return home
	}
	if u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/") {
		// Our own pages: only those a verified user comes back to.
		for _, p := range returnablePages {
			if u.Path == prefix+p {
				return raw
			}
		}
		return home
	}
	return raw
}
