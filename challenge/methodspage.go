package challenge

import (
	"net/http"
	"slices"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
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
func day(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("2 January 2006")
}

func (mp *methodsPage) serve(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	if ok, err := mp.stepUp.verified(w, r, id, mp.web.path("/methods"), false); !ok || err != nil {
		return err
	}
	u, err := mp.users.get(r, id)
	if err != nil {
		return err
	}
	notice := ""
	if want := r.PostFormValue("preferred"); r.Method == http.MethodPost && slices.Contains(mp.methods.usable(u), want) {
		if u, err = accounts.UpdateUser(r.Context(), mp.backend, mp.realm, id.ID, func(u *accounts.User) error {
			u.Preferred = want
			return nil
		}); err != nil {
			return err
		}
		notice = methodNames[want] + " is now your preferred method."
	}
	data := methodsData{CSRF: mp.web.token(w, r, id.ID), Notice: notice}
	usable := mp.methods.usable(u)
	for _, m := range usable {
		e, _ := u.Enrollment(m)
		data.Enrolled = append(data.Enrolled, methodRow{Method: m, Name: methodNames[m], Target: sentcode.Mask(m, e.Target), Added: day(e.EnrolledAt), LastUsed: day(e.LastUsed),
			Preferred: m == u.Preferred || (u.Preferred == "" && m == usable[0])})
	}
	data.Available = mp.methods.toEnroll(usable)
	if slices.Contains(usable, policy.MethodWebAuthn) {
		data.Passkeys, data.AddPasskey = passkeyRows(u), mp.web.path("/enroll/webauthn")
	}
	if mp.codes.offered(usable) {
		data.Recovery, data.RecoveryLeft, data.RecoveryURL = true, mp.codes.left(u), mp.web.path("/recovery-codes/new")
		if u.Recovery != nil {
			data.RecoveryCreated = day(u.Recovery.Created)
		}
	}
	mp.web.render(w, http.StatusOK, "methods", "Your sign-in methods", data)
	return nil
}
