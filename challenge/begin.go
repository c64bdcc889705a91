package challenge

import (
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
)

// Begin sends an identified user who must pass 2FA to our pages: a
// browser navigation is redirected, remembering where it was going
// (server-side); anything else gets a 401 that says so.
func (p *Pages) Begin(w http.ResponseWriter, r *http.Request, id identity.Identity) {
	if !pages.IsNavigation(r) {
		pages.WriteJSON(w, http.StatusUnauthorized, pages.APIError{
			Error:        "two_factor_required",
			Message:      p.web.words(r).T("challenge.api.required"),
			ChallengeURL: p.web.path("/"),
		})
		return
	}
	if _, err := p.flows.start(w, r, id, r.URL.RequestURI()); err != nil {
		p.web.site.Fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.web.path("/"), http.StatusFound)
}

// BeginStepUp sends a verified user whose pass is older than a step-up
// path allows (within) to enter a code, and back: a browser navigation is
// redirected; anything else gets a 401 step_up_required.
func (p *Pages) BeginStepUp(w http.ResponseWriter, r *http.Request, id identity.Identity, within time.Duration) {
	if !pages.IsNavigation(r) {
		t := p.web.words(r)
		pages.WriteJSON(w, http.StatusUnauthorized, pages.APIError{
			Error:        "step_up_required",
			Message:      t.T("challenge.api.step_up", "Within", minutes(t, within)),
			ChallengeURL: p.web.path("/"),
		})
		return
	}
	f, err := p.flows.start(w, r, id, r.URL.RequestURI())
	if err == nil {
		_, err = p.flows.update(r.Context(), f.ID, func(f *accounts.Flow) error {
			f.StepUp, f.Within = true, int64(within/time.Second)
			return nil
		})
	}
	if err != nil {
		p.web.site.Fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.web.path("/verify"), http.StatusFound)
}

// Guard lets a request to one of our other pages (the admin pages) on when
// the user passed 2FA in this session and entered a code within FreshFor.
// Otherwise it has answered: a browser is sent through a challenge back to
// returnTo; an API call (api) gets a 401 that says what is needed.
func (p *Pages) Guard(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string, api bool) (bool, error) {
	if ok, err := p.stepUp.verified(w, r, id, returnTo, api); !ok || err != nil {
		return ok, err
	}
	return p.stepUp.require(w, r, id, returnTo, api)
}
