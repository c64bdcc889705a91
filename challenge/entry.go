package challenge

import (
	"net/http"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// entryPages send the user where they need to be: the start page, and the
// choices of a method to set up or to verify with.
type entryPages struct {
	web     *web
	flows   *flows
	users   *users
	methods *methodSet
	stepUp  *stepUp
	checker *verify.Checker
	backend store.Backend
	policy  *policy.Snapshot
	later   *setupLater
}

// entry: back to the app when verified or when 2FA is off, else to
// enrollment or verification (or to unlocking, when code entry is held).
func (ep *entryPages) entry(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	need, err := ep.stepUp.needsCode(r, id)
	if err != nil {
		return err
	}
	if !need || !ep.policy.Current().Enabled {
		to := "/"
		if f, err := ep.flows.load(r, id); err == nil {
			to = f.Return
		}
		ep.web.redirect(w, r, to)
		return nil
	}
	if _, err := ep.flows.current(w, r, id); err != nil {
		return err
	}
	u, err := ep.users.get(r, id)
	if err != nil {
		return err
	}
	held, err := ep.checker.Ladder(id.ID).State(r.Context(), ep.backend)
	switch {
	case err != nil:
		return err
	case held.Hard:
		ep.web.redirect(w, r, ep.web.path("/unlock"))
	case len(ep.methods.usable(u)) == 0:
		to := "/enroll"
		if g, err := ep.later.grace(r, id); err != nil {
			return err
		} else if g.Open(ep.later.now()) {
			to = "/setup-later"
		}
		ep.web.redirect(w, r, ep.web.path(to))
	default:
		ep.web.redirect(w, r, ep.web.path("/verify"))
	}
	return nil
}

type choicePage struct {
	Methods []methodChoice
	// SMSOff: the operator has not enabled SMS (a paid add-on).
	SMSOff bool
}

func (ep *entryPages) enrollChoice(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	u, err := ep.users.get(r, id)
	if err != nil {
		return err
	}
	if ok, err := ep.stepUp.mayEnroll(w, r, id, u); !ok || err != nil {
		return err
	}
	choices := ep.methods.toEnrollIn(ep.web.words(r), nil)
	if len(choices) == 1 && len(ep.methods.usable(u)) == 0 {
		ep.web.redirect(w, r, choices[0].URL)
		return nil
	}
	ep.web.render(w, r, http.StatusOK, "enroll", "challenge.enroll.title", choicePage{Methods: choices, SMSOff: !ep.methods.available(policy.MethodSMS)})
	return nil
}

func (ep *entryPages) verifyChoice(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	u, err := ep.users.get(r, id)
	if err != nil {
		return err
	}
	usable := ep.methods.usable(u)
	if len(usable) == 0 {
		ep.web.redirect(w, r, ep.web.path("/enroll"))
		return nil
	}
	method := usable[0]
	for _, m := range usable {
		if m == u.Preferred {
			method = m
		}
	}
	// A step-up asks for the strongest method the user has, not the
	// handiest: it guards changes to how the account is protected.
	if f, err := ep.flows.load(r, id); err == nil && f.StepUp {
		method, _ = ep.methods.strongest(u)
	}
	ep.web.redirect(w, r, ep.web.path("/verify/"+method))
	return nil
}
