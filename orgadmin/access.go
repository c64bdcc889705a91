package orgadmin

import (
	"fmt"
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
)

// Guard says whether a user passed two-factor authentication in this
// session, and recently enough for a sensitive page. When not, it has
// answered: a browser is sent to enter a code and back to returnTo; an API
// call (api) gets a 401.
type Guard interface {
	Guard(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string, api bool) (bool, error)
}

// access lets only admins in; while 2FA is enforced, only admins who
// entered a code recently.
type access struct {
	admin    *Admin
	site     *pages.Site
	guard    Guard
	clientIP func(*http.Request) string
}

// allow has answered when it returns false.
func (ac *access) allow(w http.ResponseWriter, r *http.Request, id identity.Identity, api bool) (bool, error) {
	a := ac.admin
	if !id.HasGroup(a.cfg.AdminPermission) {
		ac.denied(r, id)
		t := ac.site.Words(r)
		if api {
			msg := t.T("orgadmin.denied.api", "Permission", a.cfg.AdminPermission)
			pages.WriteJSON(w, http.StatusForbidden, pages.APIError{Error: "forbidden", Message: msg})
		} else {
			ac.site.Message(w, r, http.StatusForbidden, pages.Message{
				Title: t.T("orgadmin.denied.title"),
				Lines: []string{t.T("orgadmin.denied.line")},
			})
		}
		return false, nil
	}
	// Admins are users too: known, and sent the setup email.
	if _, err := accounts.RememberUser(r.Context(), a.backend, a.cfg.Realm, id, a.cfg.Now()); err != nil {
		return false, err
	}
	if !a.Policy().Enabled {
		return true, nil
	}
	// Every admin page and change needs a code entered in the last
	// FreshFor, not only a verified session.
	return ac.guard.Guard(w, r, id, ac.site.Prefix()+"/admin", api)
}

// denied counts a non-admin at the admin pages, and audits it once per
// user per window: any identified user can ask as often as they like.
func (ac *access) denied(r *http.Request, id identity.Identity) {
	a := ac.admin
	a.cfg.OnEvent("admin_denied")
	folded, ok := a.denied.Admit("admin_denied\x00"+id.ID, a.cfg.Now())
	if !ok {
		return
	}
	detail := r.Method + " " + accounts.ClipText(r.URL.Path, accounts.MaxAuditDetail)
	if folded > 0 {
		detail = fmt.Sprintf("%s (and %d more since the last entry)", detail, folded)
	}
	a.audit(r.Context(), accounts.AuditEvent{Actor: id.ID, Action: "admin_denied", IP: ac.clientIP(r), Detail: detail})
}

// actor is the admin a request comes from.
func (ac *access) actor(r *http.Request, id identity.Identity) Actor {
	return Actor{ID: id.ID, Email: id.Email, IP: ac.clientIP(r)}
}
