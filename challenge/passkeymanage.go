package challenge

import (
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/policy"
)

// passkeyRow is one of the user's keys on "Your sign-in methods".
type passkeyRow struct {
	ID, Name, Created, LastUsed string
}

// passkeyRows lists the user's keys for the methods page.
func passkeyRows(t *locale.Words, u *accounts.User) []passkeyRow {
	var out []passkeyRow
	for _, k := range u.Passkeys {
		out = append(out, passkeyRow{ID: k.ID(), Name: k.Name, Created: day(t, k.Created), LastUsed: day(t, k.LastUsed)})
	}
	return out
}

// remove takes one of the user's keys away, after a fresh code, unless
// it is what stands between their password and their account.
func (pp *passkeyPages) remove(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	methods := pp.web.path("/methods")
	if r.Method != http.MethodPost {
		pp.web.redirect(w, r, methods)
		return nil
	}
	if ok, err := pp.stepUp.verified(w, r, id, methods, false); !ok || err != nil {
		return err
	}
	if ok, err := pp.stepUp.require(w, r, id, methods, false); !ok || err != nil {
		return err
	}
	u, err := pp.users.get(r, id)
	if err != nil {
		return err
	}
	which := r.PostFormValue("key")
	kept, name := u.Passkeys[:0:0], ""
	for _, k := range u.Passkeys {
		if k.ID() == which {
			name = k.Name
			continue
		}
		kept = append(kept, k)
	}
	if name == "" {
		pp.web.redirect(w, r, methods)
		return nil
	}
	if len(kept) == 0 && pp.policy.Current().Enabled && !pp.hasOther(u) {
		t := pp.web.words(r)
		pp.web.message(w, r, http.StatusConflict, pages.Message{
			Title:    t.T("account.passkey_remove.title"),
			Lines:    []string{t.T("account.passkey_remove.only_way"), t.T("account.passkey_remove.add_first")},
			LinkText: t.T("account.passkey_remove.back"),
			LinkURL:  methods,
		})
		return nil
	}
	if u, err = accounts.UpdateUser(r.Context(), pp.backend, pp.realm, id.ID, func(u *accounts.User) error {
		var left []passkey.Key
		for _, k := range u.Passkeys {
			if k.ID() != which {
				left = append(left, k)
			}
		}
		u.Passkeys = left
		if len(left) == 0 {
			u.RemoveEnrollment(policy.MethodWebAuthn)
		}
		return nil
	}); err != nil {
		return err
	}
	pp.onChange(id.ID)
	pp.notices.passkeyRemoved(r.Context(), u, name, pp.check.clientIP(r))
	pp.web.redirect(w, r, methods)
	return nil
}

// hasOther reports whether the user has a usable method besides passkeys.
func (pp *passkeyPages) hasOther(u *accounts.User) bool {
	for _, m := range pp.methods.usable(u) {
		if m != policy.MethodWebAuthn {
			return true
		}
	}
	return false
}
