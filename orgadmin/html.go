package orgadmin

import (
	"embed"
	"errors"
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
)

//go:embed templates/*.html
var templateFiles embed.FS

// HTML is Settings › Security as pages, under the prefix's /admin.
type HTML struct {
	access
	tpl  *pages.Templates
	csrf pages.CSRF
}

// NewHTML is a site's settings pages; clientIP nil takes the peer's
// address.
func NewHTML(a *Admin, site *pages.Site, csrf pages.CSRF, guard Guard, clientIP func(*http.Request) string) (*HTML, error) {
	tpl, err := site.Templates(templateFiles, true)
	if err != nil {
		return nil, err
	}
	if clientIP == nil {
		clientIP = identity.PeerIP
	}
	return &HTML{access: access{admin: a, site: site, guard: guard, clientIP: clientIP}, tpl: tpl, csrf: csrf}, nil
}

// Register routes the pages on mux.
func (h *HTML) Register(mux *http.ServeMux) {
	pre := h.site.Prefix() + "/admin"
	handle := func(pattern string, fn pages.HandlerFunc) {
		mux.Handle(pattern, h.site.Handle(h.csrf, func(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
			if ok, err := h.allow(w, r, id, false); !ok || err != nil {
				return err
			}
			return fn(w, r, id)
		}))
	}
	handle("GET "+pre, h.home)
	for _, path := range []string{"/edit", "/enable"} {
		handle("GET "+pre+path, h.edit)
		handle("POST "+pre+path, h.edit)
	}
	handle("GET "+pre+"/disable", h.disable)
	handle("POST "+pre+"/disable", h.disable)
	handle("GET "+pre+"/confirm", h.confirm)
	handle("POST "+pre+"/confirm", h.confirm)
	handle("POST "+pre+"/users/{action}", h.userAction)
	handle("GET "+pre+"/users/{action}", func(w http.ResponseWriter, r *http.Request, _ identity.Identity) error {
		pages.Redirect(w, r, pre)
		return nil
	})
	handle("GET "+pre+"/audit", h.audit)
	handle("GET "+pre+"/rollout", h.rolloutPage)
	handle("POST "+pre+"/rollout/extend", h.extend)
	handle(pre+"/", func(w http.ResponseWriter, r *http.Request, _ identity.Identity) error {
		t := h.site.Words(r)
		h.site.Message(w, r, http.StatusNotFound, pages.Message{Title: t.T("pages.not_found.title"), LinkText: t.T("orgadmin.settings_link"), LinkURL: pre})
		return nil
	})
}

type homePage struct {
	CSRF        string
	Policy      policy.Policy
	Methods     string // the enabled methods, named in a list
	Notice      string
	Users       []accounts.UserSummary
	NextUsers   string
	Audit       []auditRow
	Mail        *notify.Progress
	Immediately bool
	Prefix      string
	// Progress counts users by where they stand in setting up.
	Progress []progressCount
	// SetupDate is the last day to set up, in words.
	SetupDate string
}

func (h *HTML) home(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	return h.homeWith(w, r, id, "")
}

func (h *HTML) homeWith(w http.ResponseWriter, r *http.Request, id identity.Identity, notice string) error {
	ctx := r.Context()
	p := h.admin.Policy()
	t := h.site.Words(r)
	data := homePage{CSRF: h.csrf.Token(w, r, id.ID), Policy: p, Methods: methodList(t, p.Ordered()), Notice: notice, Immediately: h.admin.cfg.EnforceImmediately, Prefix: h.site.Prefix()}
	var err error
	if data.Users, data.NextUsers, err = h.admin.ListUsers(ctx, r.URL.Query().Get("after"), 50); err != nil {
		return err
	}
	events, _, err := h.admin.ListAudit(ctx, "", 10)
	if err != nil {
		return err
	}
	data.Audit = auditRows(t, events)
	data.Mail = h.admin.MailProgress(ctx)
	if day, err := p.Rollout.LastDay(); err == nil {
		data.SetupDate = t.Date(day)
	}
	if p.Enabled {
		if data.Progress, _, err = h.progressCounts(r, ""); err != nil {
			return err
		}
	}
	h.tpl.Render(w, r, http.StatusOK, "admin", "orgadmin.home.title", data)
	return nil
}

// userAction is Reset 2FA, Unlock and Revoke devices of one user.
func (h *HTML) userAction(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx, by, user, t := r.Context(), h.actor(r, id), r.PostFormValue("user"), h.site.Words(r)
	var notice string
	switch r.PathValue("action") {
	case "reset":
		notice = t.T("orgadmin.notice.reset", "User", user)
		if err := h.admin.ResetUser(ctx, by, user); errors.Is(err, accounts.ErrNoSuchUser) {
			notice = AnswerIn(t, err).Message
		} else if err != nil {
			return err
		}
	case "unlock":
		if err := h.admin.UnlockUser(ctx, by, user); err != nil {
			return err
		}
		notice = t.T("orgadmin.notice.unlocked", "User", user)
	case "revoke":
		n, err := h.admin.RevokeDevices(ctx, by, user)
		if err != nil {
			return err
		}
		notice = t.N("orgadmin.notice.revoked", n, "User", user)
	default:
		h.site.NotFound(w, r)
		return nil
	}
	return h.homeWith(w, r, id, notice)
}

func (h *HTML) audit(w http.ResponseWriter, r *http.Request, _ identity.Identity) error {
	events, next, err := h.admin.ListAudit(r.Context(), r.URL.Query().Get("before"), 50)
	if err != nil {
		return err
	}
	data := struct {
		Events []auditRow
		Next   string
		Prefix string
	}{Events: auditRows(h.site.Words(r), events), Next: next, Prefix: h.site.Prefix()}
	h.tpl.Render(w, r, http.StatusOK, "admin_audit", "orgadmin.audit.title", data)
	return nil
}

// propose proposes a change and sends the admin to its code step; msg
// says why not when the proposal was refused.
func (h *HTML) propose(w http.ResponseWriter, r *http.Request, id identity.Identity, next policy.Policy) (msg string, err error) {
	prop, _, err := h.admin.ProposeChange(r.Context(), h.actor(r, id), next)
	if err == nil {
		pages.Redirect(w, r, h.site.Prefix()+"/admin/confirm?change="+prop.ID)
		return "", nil
	}
	if a := AnswerIn(h.site.Words(r), err); !a.Unavailable() {
		return a.Message, nil
	}
	return "", err
}

// auditRow is an audit event with its action in words.
type auditRow struct {
	accounts.AuditEvent
	What string
}

func auditRows(t *locale.Words, events []accounts.AuditEvent) []auditRow {
	rows := make([]auditRow, len(events))
	for i, e := range events {
		rows[i] = auditRow{AuditEvent: e, What: e.Label()}
		// An action of an earlier or later version without a message of
		// its own shows as accounts labels it.
		if id := "orgadmin.audit.action." + e.Action; t.Has(id) {
			rows[i].What = t.T(id)
		}
		rows[i].Detail = auditDetail(t, e)
	}
	return rows
}
