package challenge

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/recovery"
	"github.com/caddy2fa/caddy2fa/store"
)

// recoveryPages are the recovery codes as users meet them: shown once
// after their first enrollment, used on a verify page when the phone is
// lost, and replaced by a new set when few are left.
type recoveryPages struct {
	web           *web
	users         *users
	methods       *methodSet
	stepUp        *stepUp
	check         *codeCheck
	start         *pageStart
	finish        *finish
	codes         *recoveryCodes
	notices       *Notices
	backend       store.Backend
	realm         string
	clientIP      func(*http.Request) string
	onUserChanged func(string)
}

var recoveryKind = codeKind{normalize: recovery.Normalize, malformed: "Enter a recovery code as it is written, for example ABCDE-fghjk: 10 letters and digits.",
	method: policy.MethodRecovery,
	wrong:  "That recovery code didn't work: check it against your saved list (letters are case-sensitive), or use another one."}

var recoveryHelp = []string{
	"Recovery codes were shown once, after you first set up two-factor authentication. You may have saved them as a file, printed them or kept them in a password manager.",
	"Each code works once. Letters are case-sensitive; the dash is optional.",
	"No codes left, or never saved them? Contact your administrator to reset your two-factor setup.",
}

func (rp *recoveryPages) verify(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	r, u, f, err := rp.start.verify(w, r, id, func(u *accounts.User) bool {
		return rp.codes.left(u) > 0 && len(rp.methods.usable(u)) > 0
	})
	if f == nil || err != nil {
		return err
	}
	data := codePage{Method: policy.MethodRecovery, Action: rp.web.path("/verify/recovery"), Help: recoveryHelp, Others: rp.methods.others(u, policy.MethodRecovery)}
	render := func(status int, msg string) {
		data.CSRF, data.Error = rp.web.token(w, r, id.ID), msg
		rp.web.render(w, status, "recovery_verify", "Use a recovery code", data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	return rp.check.checkKind(w, r, id, f, recoveryKind, render, func(ctx context.Context, code string) (bool, error) {
		u, ok, err := rp.codes.spend(ctx, id.ID, code)
		if !ok || err != nil {
			return false, err
		}
		// Whoever lost the phone may have lost a trusted laptop with it.
		if _, err := accounts.RevokeDevices(ctx, rp.backend, rp.realm, id.ID, nil, ""); err != nil {
			return false, err
		}
		rp.onUserChanged(id.ID)
		left := u.Recovery.Left()
		rp.notices.recoveryCodeUsed(ctx, u, rp.clientIP(r), left)
		next := rp.web.path("/recovery-codes/used") + "?next=" + url.QueryEscape(pages.SafeReturnPath(f.Return, rp.web.prefix))
		return true, rp.finish.succeedTo(w, r, id, f, u, policy.MethodRecovery, next)
	})
}

type usedPage struct {
	Left   int
	Remind bool
	Next   string
	NewURL string
}

// used tells a user who just signed in with a recovery code how many are
// left, and asks for a new set when few are.
func (rp *recoveryPages) used(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	next := pages.SafeReturnPath(r.URL.Query().Get("next"), rp.web.prefix)
	if ok, err := rp.stepUp.verified(w, r, id, next, false); !ok || err != nil {
		return err
	}
	u, err := rp.users.get(r, id)
	if err != nil {
		return err
	}
	left := rp.codes.left(u)
	rp.web.render(w, http.StatusOK, "recovery_used", "You used a recovery code", usedPage{Left: left, Remind: left <= recovery.RemindAt, Next: next, NewURL: rp.web.path("/recovery-codes/new")})
	return nil
}

type codesPage struct {
	CSRF     string
	Error    string
	Codes    []string
	Download template.URL // the codes as a text file
	Methods  string
}

// show is the one time a set's codes are seen: the first visit takes them
// from the store, and a reload shows none.
func (rp *recoveryPages) show(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	if ok, err := rp.stepUp.verified(w, r, id, rp.web.path("/methods"), false); !ok || err != nil {
		return err
	}
	data := codesPage{Methods: rp.web.path("/methods")}
	if r.Method == http.MethodPost {
		if r.PostFormValue("saved") != "" {
			next, err := rp.codes.done(r.Context(), id.ID)
			if err != nil {
				return err
			}
			rp.web.redirect(w, r, pages.SafeReturnPath(next, rp.web.prefix))
			return nil
		}
		data.Error = "Tick “I have saved these codes” to go on."
	} else {
		codes, _, err := rp.codes.take(r.Context(), id.ID)
		if err != nil {
			return err
		}
		data.Codes = codes
		data.Download = template.URL("data:text/plain;charset=utf-8," + url.PathEscape(codesFile(rp.web.site.Org(), codes)))
	}
	data.CSRF = rp.web.token(w, r, id.ID)
	status := http.StatusOK
	if data.Error != "" {
		status = http.StatusUnprocessableEntity
	}
	rp.web.render(w, status, "recovery_codes", "Save your recovery codes", data)
	return nil
}

// codesFile is the text users download: the codes and what they are.
func codesFile(org string, codes []string) string {
	var b strings.Builder
	b.WriteString("Recovery codes")
	if org != "" {
		b.WriteString(" for " + org)
	}
	b.WriteString("\r\n\r\nEach code signs you in once if you lose your phone or security key.\r\nKeep them somewhere safe, apart from your devices.\r\n\r\n")
	for _, c := range codes {
		b.WriteString(c + "\r\n")
	}
	return b.String()
}

type regeneratePage struct {
	CSRF string
	Left int
}

// regenerate replaces a user's set with a new one, after a fresh code.
func (rp *recoveryPages) regenerate(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	here := rp.web.path("/recovery-codes/new")
	if ok, err := rp.stepUp.verified(w, r, id, here, false); !ok || err != nil {
		return err
	}
	u, err := rp.users.get(r, id)
	if err != nil {
		return err
	}
	if !rp.codes.offered(rp.methods.usable(u)) {
		rp.web.redirect(w, r, rp.web.path("/methods"))
		return nil
	}
	if ok, err := rp.stepUp.require(w, r, id, here, false); !ok || err != nil {
		return err
	}
	if r.Method != http.MethodPost {
		rp.web.render(w, http.StatusOK, "recovery_new", "Make new recovery codes", regeneratePage{CSRF: rp.web.token(w, r, id.ID), Left: rp.codes.left(u)})
		return nil
	}
	ctx := r.Context()
	codes, set := rp.codes.draw(id.ID)
	replaced := u.Recovery != nil
	u, err = accounts.UpdateUser(ctx, rp.backend, rp.realm, id.ID, func(u *accounts.User) error {
		u.Recovery = &set
		return nil
	})
	if err != nil {
		return err
	}
	if err := rp.codes.keep(ctx, id.ID, codes, rp.web.path("/methods")); err != nil {
		return err
	}
	rp.notices.recoveryCodesMade(ctx, u, replaced)
	rp.web.redirect(w, r, rp.web.path("/recovery-codes"))
	return nil
}
