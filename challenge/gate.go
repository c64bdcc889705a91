package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/store"
)

// Gate decides one proxied request of an identified user. It returns true
// when the request may go on to the app; otherwise it has answered: a
// redirect to the challenge, a 401 JSON for API calls, or a 503 when the
// store cannot be read (fail closed).
//
// A verified user's request costs a cookie decode and memory reads only.
func (s *Service) Gate(w http.ResponseWriter, r *http.Request, id identity.Identity) bool {
	p := s.policy.Current()
	if !p.Enabled {
		s.noteAppSession(w, r, id)
		return true
	}
	if sess, ok := s.readSession(r, id.ID, id.AppSession); ok {
		epoch, err := s.epochs.get(r.Context(), s, id.ID)
		if err != nil {
			s.Unavailable(w, r, err)
			return false
		}
		if epoch == sess.Epoch {
			if sess.Device == "" {
				return true
			}
			ok, err := s.devices.valid(r.Context(), s, id.ID, sess.Device)
			if err != nil {
				s.Unavailable(w, r, err)
				return false
			}
			if ok {
				return true
			}
		}
	}
	// Sessions open before 2FA was turned on continue until next login.
	if carried, err := s.grandfathered(r, id, p.EnabledAt); err != nil {
		s.Unavailable(w, r, err)
		return false
	} else if carried {
		return s.passGrandfathered(w, r, id)
	}
	// A new app session on a trusted device passes without a code.
	if pass, handled := s.trustedDevice(w, r, id); pass || handled {
		return pass
	}
	s.requireChallenge(w, r, id)
	return false
}

// requireChallenge sends a browser navigation to our pages, remembering
// where it was going, and tells API clients with a 401.
func (s *Service) requireChallenge(w http.ResponseWriter, r *http.Request, id identity.Identity) {
	s.event("challenge_required")
	if !isNavigation(r) {
		writeJSON(w, http.StatusUnauthorized, apiError{
			Error:        "two_factor_required",
			Message:      "Two-factor verification is required. Open the challenge URL in a browser.",
			ChallengeURL: s.cfg.PathPrefix + "/",
		})
		return
	}
	if _, err := s.startFlow(w, r, id, r.URL.RequestURI()); err != nil {
		s.Unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.cfg.PathPrefix+"/", http.StatusFound)
}

// isNavigation: a browser asking for a page, as opposed to an API call or
// a form post to the app (those cannot be replayed after a redirect).
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		return false
	}
	return true
}

type apiError struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	ChallengeURL string `json:"challenge_url,omitempty"`
	RetryAfter   string `json:"retry_after,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Unavailable answers 503 when the store cannot be reached: never let an
// unverified request through because we could not check it.
func (s *Service) Unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.event("store_unavailable")
	s.cfg.Logger.Error("two-factor check unavailable (store or identity lookup); request refused", "error", err, "path", r.URL.Path)
	w.Header().Set("Retry-After", "5")
	if !isNavigation(r) && !s.OwnPath(r.URL.Path) {
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Error:   "two_factor_unavailable",
			Message: "The two-factor service is temporarily unavailable. Try again in a moment.",
		})
		return
	}
	s.pages.message(w, r, http.StatusServiceUnavailable, messagePage{
		Title: "Two-factor service is temporarily unavailable",
		Lines: []string{
			"We can't check your sign-in right now, so we can't let you through yet. Nothing is wrong with your account.",
			"Wait a moment and try again. If this keeps happening, contact your administrator.",
		},
		LinkText: "Try again",
		LinkURL:  s.retryLink(r),
	})
}

// retryLink is where "Try again" goes: the page asked for, but only as a
// path on this site ("//evil.example/x" would be another site's).
func (s *Service) retryLink(r *http.Request) string {
	link := SafeReturnPath(r.URL.RequestURI(), s.cfg.PathPrefix)
	if link == "/" && s.OwnPath(r.URL.Path) {
		return s.cfg.PathPrefix + "/"
	}
	return link
}

// epochCache holds each recently seen user's epoch so the hot path does
// not read the store. Change notifications drop entries; a miss reads the
// store once. It is keyed by a digest of the user ID: 24 bytes per user,
// however long the IDs.
type epochCache struct {
	m    *memo[[16]byte, uint64]
	keys *keyedDigest
}

// noUser never matches a cookie's epoch.
const noUser = math.MaxUint64

func newEpochCache(limit int) *epochCache {
	return &epochCache{m: newMemo[[16]byte, uint64](limit), keys: newKeyedDigest()}
}

func (c *epochCache) get(ctx context.Context, s *Service, user string) (uint64, error) {
	key := c.keys.of(user)
	e, ok, gen := c.m.get(key)
	if ok {
		return e, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u, err := accounts.GetUser(ctx, s.backend, s.cfg.Realm, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e = noUser
	case err != nil:
		return 0, err
	default:
		e = u.Epoch
	}
	c.m.put(key, e, gen)
	return e, nil
}

func (c *epochCache) forget(user string) { c.m.forget(c.keys.of(user)) }

func (c *epochCache) clear() { c.m.clear() }

// passGrandfathered issues a session to an app session that predates
// 2FA; it has answered (503) when it returns false.
func (s *Service) passGrandfathered(w http.ResponseWriter, r *http.Request, id identity.Identity) bool {
	epoch, err := s.epochs.get(r.Context(), s, id.ID)
	if err == nil {
		err = s.writeSession(w, r, session{User: id.ID, App: s.appBinding(id.AppSession), Epoch: epoch, Carried: true})
	}
	if err != nil {
		s.Unavailable(w, r, err)
		return false
	}
	s.event("grandfathered")
	return true
}
