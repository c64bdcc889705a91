package challenge

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/store"
)

// finish ends a passed challenge, and records a new method.
type finish struct {
	web           *web
	sessions      *sessions
	flows         *flows
	trust         *deviceTrust
	notices       *Notices
	recovery      *recoveryCodes
	methods       *methodSet
	backend       store.Backend
	realm         string
	now           func() time.Time
	onUserChanged func(string)
}

// succeed finishes a challenge: a verified session for this app session
// (and, when asked and allowed, a trusted device), and back to where the
// user was going.
func (fn *finish) succeed(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, u *accounts.User, method string) error {
	return fn.succeedTo(w, r, id, f, u, method, pages.SafeReturnPath(f.Return, fn.web.prefix))
}

// succeedTo finishes a challenge like succeed, going on to next.
func (fn *finish) succeedTo(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, u *accounts.User, method, next string) error {
	device := ""
	if r.PostFormValue("remember") != "" {
		var err error
		if device, err = fn.trust.add(w, r, u); err != nil {
			return err
		}
	}
	if err := fn.sessions.issue(w, r, id.ID, id.AppSession, u.Epoch, device, fn.now().Unix(), method); err != nil {
		return err
	}
	fn.flows.end(w, r, f)
	fn.web.redirect(w, r, next)
	return nil
}

// enroll records a new method and finishes the challenge. A user's first
// method comes with a set of recovery codes, shown once on the way back.
func (fn *finish) enroll(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, e accounts.Enrollment) error {
	return fn.enrollWith(w, r, id, f, e, nil)
}

// enrollWith is enroll, with more changes to the user record in the same
// update (a passkey's key).
func (fn *finish) enrollWith(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, e accounts.Enrollment, also func(*accounts.User)) error {
	ctx := r.Context()
	codes, set := fn.recovery.draw(id.ID)
	drawn := false
	u, err := fn.newMethod(ctx, id.ID, e, func(u *accounts.User) {
		if also != nil {
			also(u)
		}
		drawn = u.Recovery == nil && fn.recovery.offered(fn.methods.usable(u))
		if drawn {
			u.Recovery = &set
		}
	})
	if err != nil {
		return err
	}
	next := pages.SafeReturnPath(f.Return, fn.web.prefix)
	if drawn {
		if err := fn.recovery.keep(ctx, id.ID, codes, next); err != nil {
			return err
		}
		fn.notices.recoveryCodesMade(ctx, u, false)
		next = fn.web.path("/recovery-codes")
	}
	return fn.succeedTo(w, r, id, f, u, e.Method, next)
}

// newMethod records an enrollment (and more, when also is given). A change
// of methods ends the trust of every device and every other session (a new
// epoch): whoever set up a method must not inherit sessions from before.
func (fn *finish) newMethod(ctx context.Context, user string, e accounts.Enrollment, also func(*accounts.User)) (*accounts.User, error) {
	u, err := accounts.EndSessions(ctx, fn.backend, fn.realm, user, "", func(u *accounts.User) {
		u.SetEnrollment(e)
		u.Preferred = e.Method
		u.LastVerified = e.EnrolledAt
		if also != nil {
			also(u)
		}
	})
	if err != nil {
		return nil, err
	}
	fn.onUserChanged(user)
	fn.notices.enrolled(ctx, u, e.Method)
	return u, nil
}
