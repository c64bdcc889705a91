package challenge

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
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

// recoveryKind is what a recovery code looks like, said in t's language.
func recoveryKind(t *locale.Words) codeKind {
	return codeKind{normalize: recovery.Normalize, method: policy.MethodRecovery,
		malformed: t.T("account.recovery_verify.malformed"), wrong: t.T("account.recovery_verify.wrong")}
}

func (rp *recoveryPages) verify(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	r, u, f, err := rp.start.verify(w, r, id, func(u *accounts.User) bool {
		return rp.codes.left(u) > 0 && len(rp.methods.usable(u)) > 0
	})
	if f == nil || err != nil {
		return err
	}
	t := rp.web.words(r)
	// The page's help is its template's own.
	data := codePage{Method: policy.MethodRecovery, Action: rp.web.path("/verify/recovery"), Others: rp.methods.othersIn(t, u, policy.MethodRecovery)}
	render := func(status int, msg string) {
		data.CSRF, data.Error = rp.web.token(w, r, id.ID), msg
		rp.web.render(w, r, status, "recovery_verify", "account.recovery_verify.title", data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	return rp.check.checkKind(w, r, id, f, recoveryKind(t), render, func(ctx context.Context, code string) (bool, error) {
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
	Left int
	// LeftLine says how many are left, the number in bold.
	LeftLine template.HTML
	Remind   bool
	Next     string
	NewURL   string
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
	// The message is ours and its only argument a number: safe as HTML.
	line := template.HTML(rp.web.words(r).N("account.recovery_used.left", left))
	rp.web.render(w, r, http.StatusOK, "recovery_used", "account.recovery_used.title", usedPage{Left: left, LeftLine: line, Remind: left <= recovery.RemindAt, Next: next, NewURL: rp.web.path("/recovery-codes/new")})
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
	t := rp.web.words(r)
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
		data.Error = t.T("account.recovery_codes.tick")
	} else {
		codes, _, err := rp.codes.take(r.Context(), id.ID)
		if err != nil {
			return err
		}
		data.Codes = codes
		data.Download = template.URL("data:text/plain;charset=utf-8," + url.PathEscape(codesFile(t, rp.web.site.Org(), codes)))
	}
	data.CSRF = rp.web.token(w, r, id.ID)
	status := http.StatusOK
	if data.Error != "" {
		status = http.StatusUnprocessableEntity
	}
	rp.web.render(w, r, status, "recovery_codes", "account.recovery_codes.title", data)
	return nil
}

// codesFile is the text users download: the codes and what they are.
func codesFile(t *locale.Words, org string, codes []string) string {
	var b strings.Builder
	if org != "" {
		b.WriteString(t.T("account.recovery_codes.file_title_org", "Org", org))
	} else {
		b.WriteString(t.T("account.recovery_codes.file_title"))
	}
	b.WriteString("\r\n\r\n" + t.T("account.recovery_codes.file_once") + "\r\n" + t.T("account.recovery_codes.file_keep") + "\r\n\r\n")
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
		rp.web.render(w, r, http.StatusOK, "recovery_new", "account.recovery_new.title", regeneratePage{CSRF: rp.web.token(w, r, id.ID), Left: rp.codes.left(u)})
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
