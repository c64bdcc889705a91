package challenge

import (
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
)

// Step-up: a verified session is enough to use the app, not to change how
// the account is protected. Adding or replacing a method (a new phone
// included), removing trusted devices, and every admin page need a code
// entered within FreshFor; otherwise the user is asked for one and comes
// back to the page. A session that a trusted device opened, or an app
// session carried over from before 2FA, never counts as fresh. So an XSS in
// the app, which shares our origin, cannot swap the victim's authenticator
// with the session cookie alone.

// DefaultFreshFor is how recent a code must be for a sensitive change.
const DefaultFreshFor = 10 * time.Minute

// freshPass reports whether the user entered a code in this session within
// FreshFor, and the session is still valid.
func (s *Service) freshPass(r *http.Request, id identity.Identity) (bool, error) {
	sess, ok := s.readSession(r, id.ID, id.AppSession)
	if !ok || sess.Carried || sess.Passed == 0 || s.cfg.Now().Sub(time.Unix(sess.Passed, 0)) > s.cfg.FreshFor {
		return false, nil
	}
	return s.verified(r, id)
}

// stepUp lets a request on when the user's pass is fresh. Otherwise it
// has answered: the user is sent to enter a code and back to returnTo
// (one of our pages); an API call gets a 401 saying so.
func (s *Service) stepUp(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string, api bool) (bool, error) {
	fresh, err := s.freshPass(r, id)
	if err != nil || fresh {
		return fresh, err
	}
	s.event("step_up_required")
	if api {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "fresh_two_factor_required", Message: "Enter a two-factor code first: this needs one from the last " + minutes(s.cfg.FreshFor) + ".", ChallengeURL: s.cfg.PathPrefix + "/"})
		return false, nil
	}
	f, err := s.startFlow(w, r, id, returnTo)
	if err != nil {
		return false, err
	}
	if !f.StepUp {
		if _, err := s.updateFlow(r.Context(), f.ID, func(f *accounts.Flow) error { f.StepUp = true; return nil }); err != nil {
			return false, err
		}
	}
	s.redirect(w, r, s.cfg.PathPrefix+"/verify")
	return false, nil
}

// needsCode reports whether the verification pages should ask this user
// for a code: they have not passed 2FA in this session, or they are
// stepping up and their pass is not fresh.
func (s *Service) needsCode(r *http.Request, id identity.Identity) (bool, error) {
	ok, err := s.verified(r, id)
	if err != nil || !ok {
		return err == nil, err
	}
	f, err := s.loadFlow(r, id)
	if err != nil || !f.StepUp {
		return false, nil
	}
	fresh, err := s.freshPass(r, id)
	return !fresh, err
}
