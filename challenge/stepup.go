package challenge

import (
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
)

// Step-up: a verified session is enough to use the app, not to change how
// the account is protected. Adding or replacing a method (a new phone
// included), removing trusted devices, and every admin page need a code
// entered within FreshFor; otherwise the user is asked for one and comes
// back to the page. A session that a trusted device opened, or an app
// session carried over from before 2FA, never counts as fresh. So an XSS in
// the app, which shares our origin, cannot swap the victim's authenticator
// with the session cookie alone.
type stepUp struct {
	web      *web
	sessions *sessions
	flows    *flows
	methods  *methodSet
	freshFor time.Duration
	onEvent  func(string)
}

// require lets a request on when the user's pass is fresh. Otherwise it
// has answered: the user is sent to enter a code and back to returnTo
// (one of our pages); an API call gets a 401 saying so.
func (st *stepUp) require(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string, api bool) (bool, error) {
	fresh, err := st.sessions.fresh(r, id)
	if err != nil || fresh {
		return fresh, err
	}
	st.onEvent("step_up_required")
	if api {
		t := st.web.words(r)
		pages.WriteJSON(w, http.StatusUnauthorized, pages.APIError{Error: "fresh_two_factor_required", Message: t.T("challenge.api.fresh", "Within", minutes(t, st.freshFor)), ChallengeURL: st.web.path("/")})
		return false, nil
	}
	f, err := st.flows.start(w, r, id, returnTo)
	if err != nil {
		return false, err
	}
	if !f.StepUp {
		if _, err := st.flows.update(r.Context(), f.ID, func(f *accounts.Flow) error { f.StepUp = true; return nil }); err != nil {
			return false, err
		}
	}
	st.web.redirect(w, r, st.web.path("/verify"))
	return false, nil
}

// verified lets a request on when the user passed 2FA in this session;
// otherwise it has answered, sending them through a challenge back to
// returnTo (an API call gets a 401).
func (st *stepUp) verified(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string, api bool) (bool, error) {
	ok, err := st.sessions.verified(r, id)
	if err != nil || ok {
		return ok, err
	}
	if api {
		pages.WriteJSON(w, http.StatusUnauthorized, pages.APIError{Error: "two_factor_required", Message: st.web.words(r).T("challenge.api.pass_first"), ChallengeURL: st.web.path("/")})
		return false, nil
	}
	if _, err := st.flows.start(w, r, id, returnTo); err != nil {
		return false, err
	}
	st.web.redirect(w, r, st.web.path("/"))
	return false, nil
}

// needsCode reports whether the verification pages should ask this user
// for a code: they have not passed 2FA in this session, or they are
// stepping up and their pass is not fresh.
func (st *stepUp) needsCode(r *http.Request, id identity.Identity) (bool, error) {
	ok, err := st.sessions.verified(r, id)
	if err != nil || !ok {
		return err == nil, err
	}
	f, err := st.flows.load(r, id)
	if err != nil || !f.StepUp {
		return false, nil
	}
	within := st.freshFor
	if w := time.Duration(f.Within) * time.Second; w > 0 && w < within {
		within = w
	}
	fresh, err := st.sessions.freshWithin(r, id, within)
	return !fresh, err
}

// mayEnroll: a user who already has a usable method must enter a fresh
// code before adding another, or a stolen app session (or a script in the
// app's pages) could add the thief's authenticator.
func (st *stepUp) mayEnroll(w http.ResponseWriter, r *http.Request, id identity.Identity, u *accounts.User) (bool, error) {
	if len(st.methods.usable(u)) == 0 {
		return true, nil
	}
	return st.require(w, r, id, r.URL.Path, false)
}
