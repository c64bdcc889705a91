package challenge

import (
	"net/http"
	"slices"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
)

// methodsPage lets a verified user pick their preferred method and set up
// more; it offers no way to turn two-factor authentication off.
type methodsPage struct {
	web     *web
	stepUp  *stepUp
	users   *users
	methods *methodSet
	codes   *recoveryCodes
	backend store.Backend
	realm   string
}

type methodsData struct {
	CSRF      string
	Notice    string
	Enrolled  []methodRow
	Available []methodChoice
	// Passkeys are the user's keys; AddPasskey offers another.
	Passkeys   []passkeyRow
	AddPasskey string
	// Recovery codes: offered, how many are left of a set made when.
	Recovery        bool
	RecoveryLeft    int
	RecoveryCreated string
	RecoveryURL     string
}

type methodRow struct {
	Method, Name, Target string
	Added, LastUsed      string
	Preferred            bool
}

// day writes a date for the methods page; "never" for none.
func day(t *locale.Words, when time.Time) string {
	if when.IsZero() {
		return t.T("account.methods.never")
	}
	return t.Date(when)
}

func (mp *methodsPage) serve(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	if ok, err := mp.stepUp.verified(w, r, id, mp.web.path("/methods"), false); !ok || err != nil {
		return err
	}
	u, err := mp.users.get(r, id)
	if err != nil {
		return err
	}
	t := mp.web.words(r)
	notice := ""
	if want := r.PostFormValue("preferred"); r.Method == http.MethodPost && slices.Contains(mp.methods.usable(u), want) {
		if u, err = accounts.UpdateUser(r.Context(), mp.backend, mp.realm, id.ID, func(u *accounts.User) error {
			u.Preferred = want
			return nil
		}); err != nil {
			return err
		}
		notice = t.T("account.methods.preferred_now", "Method", t.T("method."+want))
	}
	data := methodsData{CSRF: mp.web.token(w, r, id.ID), Notice: notice}
	usable := mp.methods.usable(u)
	for _, m := range usable {
		e, _ := u.Enrollment(m)
		data.Enrolled = append(data.Enrolled, methodRow{Method: m, Name: t.T("method." + m), Target: sentcode.Mask(m, e.Target), Added: day(t, e.EnrolledAt), LastUsed: day(t, e.LastUsed),
			Preferred: m == u.Preferred || (u.Preferred == "" && m == usable[0])})
	}
	data.Available = mp.methods.toEnrollIn(t, usable)
	if slices.Contains(usable, policy.MethodWebAuthn) {
		data.Passkeys, data.AddPasskey = passkeyRows(t, u), mp.web.path("/enroll/webauthn")
	}
	if mp.codes.offered(usable) {
		data.Recovery, data.RecoveryLeft, data.RecoveryURL = true, mp.codes.left(u), mp.web.path("/recovery-codes/new")
		if u.Recovery != nil {
			data.RecoveryCreated = day(t, u.Recovery.Created)
		}
	}
	mp.web.render(w, r, http.StatusOK, "methods", "account.methods.title", data)
	return nil
}
