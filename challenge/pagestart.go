package challenge

import (
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/verify"
)

// pageStart is how every verify page, and every enrollment page, begins.
type pageStart struct {
	web     *web
	users   *users
	flows   *flows
	stepUp  *stepUp
	checker *verify.Checker
}

// verify reads the user (on a POST, in one read with what the code check
// needs) and returns the open challenge when the user may use the method
// (may) and needs a code now. Otherwise it has answered, sending them back
// to the start, and f is nil.
func (ve *pageStart) verify(w http.ResponseWriter, r *http.Request, id identity.Identity, may func(*accounts.User) bool) (_ *http.Request, u *accounts.User, f *accounts.Flow, err error) {
	if r.Method == http.MethodPost {
		r = ve.flows.readAhead(r, id, ve.checker.Ladder(id.ID).Key)
	}
	if u, err = ve.users.get(r, id); err != nil {
		return r, nil, nil, err
	}
	if !may(u) {
		ve.web.redirect(w, r, ve.web.path("/"))
		return r, u, nil, nil
	}
	need, err := ve.stepUp.needsCode(r, id)
	if err != nil || !need {
		if err == nil {
			ve.web.redirect(w, r, ve.web.path("/"))
		}
		return r, u, nil, err
	}
	f, err = ve.flows.current(w, r, id)
	return r, u, f, err
}

// enroll reads the user (on a POST, with what the code check needs) and
// returns the open challenge when the method may be set up (allowed) and
// the user may add one now (a fresh code when they have a method).
// Otherwise it has answered, and f is nil.
func (ve *pageStart) enroll(w http.ResponseWriter, r *http.Request, id identity.Identity, allowed bool) (_ *http.Request, u *accounts.User, f *accounts.Flow, err error) {
	if r.Method == http.MethodPost {
		r = ve.flows.readAhead(r, id, ve.checker.Ladder(id.ID).Key)
	}
	if u, err = ve.users.get(r, id); err != nil {
		return r, nil, nil, err
	}
	if !allowed {
		ve.web.redirect(w, r, ve.web.path("/enroll"))
		return r, u, nil, nil
	}
	if ok, err := ve.stepUp.mayEnroll(w, r, id, u); !ok || err != nil {
		return r, u, nil, err
	}
	f, err = ve.flows.current(w, r, id)
	return r, u, f, err
}
