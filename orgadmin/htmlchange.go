package orgadmin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
)

// The pages of a change: the edit (or enable) dialog, the disable page,
// and the code step that confirms either.

type editPage struct {
	CSRF         string
	Policy       policy.Policy
	Error        string
	Immediately  bool
	Prefix       string
	Choices      []methodChoice
	Remember     bool
	RememberDays int
	// MaxRememberDays bounds RememberDays.
	MaxRememberDays int
	Recovery        bool
	// Warning asks the admin to confirm a policy that locks out users who
	// have no passkey yet.
	Warning bool
	// Setup is the time users are given to set up.
	Setup setupChoice
}

type methodChoice struct {
	Method, Name, Note string
	Checked, Disabled  bool
}

func (h *HTML) edit(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	cur, t := h.admin.Policy(), h.site.Words(r)
	data := editPage{CSRF: h.csrf.Token(w, r, id.ID), Policy: cur, Immediately: h.admin.cfg.EnforceImmediately, Prefix: h.site.Prefix(), MaxRememberDays: policy.MaxRememberDays}
	checked := cur.Methods
	remember, days := cur.RememberDays > 0, cur.RememberDays
	recovery := cur.OffersRecovery()
	data.Setup = setupChoiceOf(cur.Rollout, h.admin.cfg.Now())
	status := http.StatusOK
	if r.Method == http.MethodPost {
		checked = r.PostForm["method"]
		remember = r.PostFormValue("remember") != ""
		recovery = r.PostFormValue("recovery") != ""
		days, _ = strconv.Atoi(strings.TrimSpace(r.PostFormValue("remember_days")))
		next := policy.Policy{Enabled: true, Methods: policy.Policy{Methods: checked}.Ordered(), RecoveryCodesOff: !recovery}
		data.Setup = setupChoiceFrom(r, h.admin.cfg.Now())
		next.Rollout = data.Setup.rollout()
		switch {
		case len(next.Methods) == 0:
			data.Error = t.T("orgadmin.invalid.no_method")
		case next.PhishingResistant() && !cur.PhishingResistant() && r.PostFormValue("phishing_resistant_ok") == "":
			data.Warning = true
			data.Error = t.T("orgadmin.edit.confirm_phishing_resistant")
		case remember && (days < 1 || days > policy.MaxRememberDays):
			data.Error = t.T("orgadmin.edit.remember_days_range", "Max", policy.MaxRememberDays)
		default:
			if remember {
				next.RememberDays = days
			}
			msg, err := h.propose(w, r, id, next)
			if msg == "" || err != nil {
				return err
			}
			data.Error = msg
		}
		status = http.StatusUnprocessableEntity
	}
	avail := h.admin.Availability()
	for _, m := range policy.AllMethods {
		c := methodChoice{Method: m, Name: t.T("orgadmin.edit.choice." + m), Checked: slices.Contains(checked, m), Disabled: !avail.Offers(m)}
		if m == policy.MethodSMS {
			c.Note = t.T("orgadmin.edit.note.sms")
			if c.Disabled {
				c.Note = t.T("orgadmin.edit.note.sms_off")
				c.Checked = false
			}
		}
		if m == policy.MethodEmail && c.Disabled {
			c.Note = t.T("orgadmin.edit.note.email_off")
		}
		if m == policy.MethodWebAuthn {
			c.Note = t.T("orgadmin.edit.note.webauthn")
			if c.Disabled {
				c.Note = t.T("orgadmin.edit.note.webauthn_off")
				c.Checked = false
			}
		}
		data.Choices = append(data.Choices, c)
	}
	data.Remember, data.RememberDays, data.Recovery = remember, max(days, 1), recovery
	if days == 0 {
		data.RememberDays = 30
	}
	title := "orgadmin.edit.title_enable"
	if cur.Enabled {
		title = "orgadmin.edit.title_edit"
	}
	h.tpl.Render(w, r, status, "admin_edit", title, data)
	return nil
}

type disablePage struct {
	CSRF   string
	Error  string
	Prefix string
}

func (h *HTML) disable(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	data := disablePage{CSRF: h.csrf.Token(w, r, id.ID), Prefix: h.site.Prefix()}
	if r.Method == http.MethodPost {
		cur := h.admin.Policy()
		msg, err := h.propose(w, r, id, policy.Policy{Enabled: false, Methods: cur.Methods, RememberDays: cur.RememberDays, RecoveryCodesOff: cur.RecoveryCodesOff})
		if msg == "" || err != nil {
			return err
		}
		data.Error = msg
	}
	h.tpl.Render(w, r, http.StatusOK, "admin_disable", "orgadmin.disable.title", data)
	return nil
}

type confirmPage struct {
	CSRF    string
	Error   string
	Prefix  string
	Action  string
	SentTo  string
	Summary string
	Disable bool
	// Expires says how long the change waits for its code.
	Expires string
	// Of the code form.
	Enroll       bool
	RememberDays int
}

func (h *HTML) confirm(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx, by, t := r.Context(), h.actor(r, id), h.site.Words(r)
	back := pages.Message{LinkText: t.T("orgadmin.settings_link"), LinkURL: h.site.Prefix() + "/admin"}
	prop, sentTo, err := h.admin.Proposal(ctx, by, r.FormValue("change"))
	if a := AnswerIn(t, err); err != nil && !a.Unavailable() {
		back.Title, back.Lines = t.T("orgadmin.confirm.expired_title"), []string{a.Message}
		h.site.Message(w, r, http.StatusGone, back)
		return nil
	} else if err != nil {
		return err
	}
	data := confirmPage{
		SentTo: sentcode.Mask(policy.MethodEmail, sentTo), Summary: summaryText(t, prop.Next), Disable: !prop.Next.Enabled,
		Expires: t.Duration(policy.ProposalLifetime),
		Action:  h.site.Prefix() + "/admin/confirm?change=" + prop.ID, Prefix: h.site.Prefix(),
	}
	render := func(status int, msg string) {
		data.CSRF = h.csrf.Token(w, r, id.ID)
		data.Error = msg
		h.tpl.Render(w, r, status, "admin_confirm", "orgadmin.confirm.title", data)
	}
	switch {
	case r.Method != http.MethodPost:
		render(http.StatusOK, "")
		return nil
	case r.PostFormValue("action") == "send":
		err := h.admin.ResendCode(ctx, by, prop.ID)
		if err == nil {
			pages.Redirect(w, r, data.Action)
			return nil
		}
		if a := AnswerIn(t, err); !a.Unavailable() {
			render(a.Status, a.Message)
			return nil
		}
		return err
	}
	wasEnabled := h.admin.Policy().Enabled
	applied, err := h.admin.ConfirmChange(ctx, by, prop.ID, r.PostFormValue("code"))
	a := AnswerIn(t, err)
	switch {
	case err == nil:
		h.site.Message(w, r, http.StatusOK, appliedMessage(t, applied, wasEnabled, back))
	case a.Code == "malformed_code" || a.Code == "wrong_code" || a.Code == "send_refused":
		render(a.Status, a.Message)
	case a.Code == "locked_out":
		h.held(w, r, a)
	case a.Code == "change_cancelled":
		back.Title, back.Lines = t.T("orgadmin.confirm.cancelled_title"), []string{a.Message}
		h.site.Message(w, r, a.Status, back)
	case !a.Unavailable():
		back.Title, back.Lines = t.T("orgadmin.confirm.refused_title"), []string{a.Message}
		h.site.Message(w, r, a.Status, back)
	default:
		return err
	}
	return nil
}

// held answers a confirmation whose code entry is held.
func (h *HTML) held(w http.ResponseWriter, r *http.Request, a Answer) {
	if a.RetryAfter.IsZero() {
		pages.Redirect(w, r, h.site.Prefix()+"/unlock")
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(a.RetryAfter.Sub(h.admin.cfg.Now()).Seconds())+1))
	t := h.site.Words(r)
	h.site.Message(w, r, http.StatusTooManyRequests, pages.Message{
		Title: t.T("orgadmin.held.title"),
		Lines: []string{t.T("orgadmin.held.paused"), t.T("orgadmin.held.retry", "Time", a.RetryAfter.UTC().Format("15:04"))},
	})
}

// appliedMessage is the success message of a confirmed change. When 2FA
// is on, the admin too passes it before coming back to the settings.
func appliedMessage(t *locale.Words, p policy.Policy, wasEnabled bool, back pages.Message) pages.Message {
	back.LinkText = t.T("orgadmin.applied.back")
	summary := summaryText(t, p)
	switch {
	case !p.Enabled:
		back.Title = t.T("orgadmin.applied.disabled_title")
		back.Lines = []string{t.T("orgadmin.applied.disabled_line")}
	case wasEnabled:
		back.Title = t.T("orgadmin.applied.saved_title")
		back.Lines = []string{t.T("orgadmin.applied.saved_line", "Summary", summary)}
	default:
		back.Title = t.T("orgadmin.applied.enabled_title")
		back.Lines = []string{
			t.T("orgadmin.applied.enabled_line1", "Summary", summary),
			t.T("orgadmin.applied.enabled_line2"),
			t.T("orgadmin.applied.enabled_line3"),
		}
	}
	return back
}
