package orgadmin

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy2fa/caddy2fa/identity"
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
	Recovery     bool
	// Warning asks the admin to confirm a policy that locks out users who
	// have no passkey yet.
	Warning bool
}

type methodChoice struct {
	Method, Name, Note string
	Checked, Disabled  bool
}

var choiceNames = map[string]string{
	policy.MethodWebAuthn: "Passkeys and security keys",
	policy.MethodEmail:    "Email verification",
	policy.MethodSMS:      "SMS verification",
	policy.MethodTOTP:     "Authenticator app",
}

func (h *HTML) edit(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	cur := h.admin.Policy()
	data := editPage{CSRF: h.csrf.Token(w, r, id.ID), Policy: cur, Immediately: h.admin.cfg.EnforceImmediately, Prefix: h.site.Prefix()}
	checked := cur.Methods
	remember, days := cur.RememberDays > 0, cur.RememberDays
	recovery := cur.OffersRecovery()
	status := http.StatusOK
	if r.Method == http.MethodPost {
		checked = r.PostForm["method"]
		remember = r.PostFormValue("remember") != ""
		recovery = r.PostFormValue("recovery") != ""
		days, _ = strconv.Atoi(strings.TrimSpace(r.PostFormValue("remember_days")))
		next := policy.Policy{Enabled: true, Methods: policy.Policy{Methods: checked}.Ordered(), RecoveryCodesOff: !recovery}
		switch {
		case len(next.Methods) == 0:
			data.Error = "Choose at least one verification method."
		case next.PhishingResistant() && !cur.PhishingResistant() && r.PostFormValue("phishing_resistant_ok") == "":
			data.Warning = true
			data.Error = "Confirm that only passkeys and security keys will be accepted."
		case remember && (days < 1 || days > policy.MaxRememberDays):
			data.Error = fmt.Sprintf("Enter how many days to remember devices, from 1 to %d.", policy.MaxRememberDays)
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
		c := methodChoice{Method: m, Name: choiceNames[m], Checked: slices.Contains(checked, m), Disabled: !avail.Offers(m)}
		if m == policy.MethodSMS {
			c.Note = "A paid add-on."
			if c.Disabled {
				c.Note = "A paid add-on that isn't enabled for your organization: ask your account manager to enable SMS."
				c.Checked = false
			}
		}
		if m == policy.MethodEmail && c.Disabled {
			c.Note = "No email sender is configured."
		}
		if m == policy.MethodWebAuthn {
			c.Note = "Phishing-resistant: a passkey only works on this site. Choose it alone to accept nothing else."
			if c.Disabled {
				c.Note = "Needs the site's address (site_url) in the gateway's configuration."
				c.Checked = false
			}
		}
		data.Choices = append(data.Choices, c)
	}
	data.Remember, data.RememberDays, data.Recovery = remember, max(days, 1), recovery
	if days == 0 {
		data.RememberDays = 30
	}
	title := "Enable two-factor authentication for all users"
	if cur.Enabled {
		title = "Edit two-factor authentication"
	}
	h.tpl.Render(w, status, "admin_edit", title, data)
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
	h.tpl.Render(w, http.StatusOK, "admin_disable", "Disable two-factor authentication", data)
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
	// Of the code form.
	Enroll       bool
	RememberDays int
}

func (h *HTML) confirm(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx, by := r.Context(), h.actor(r, id)
	back := pages.Message{LinkText: "Security settings", LinkURL: h.site.Prefix() + "/admin"}
	prop, sentTo, err := h.admin.Proposal(ctx, by, r.FormValue("change"))
	if a := AnswerFor(err); err != nil && !a.Unavailable() {
		back.Title, back.Lines = "This change has expired", []string{a.Message}
		h.site.Message(w, http.StatusGone, back)
		return nil
	} else if err != nil {
		return err
	}
	data := confirmPage{
		SentTo: sentcode.Mask(policy.MethodEmail, sentTo), Summary: prop.Next.Summary(), Disable: !prop.Next.Enabled,
		Action: h.site.Prefix() + "/admin/confirm?change=" + prop.ID, Prefix: h.site.Prefix(),
	}
	render := func(status int, msg string) {
		data.CSRF = h.csrf.Token(w, r, id.ID)
		data.Error = msg
		h.tpl.Render(w, status, "admin_confirm", "Confirm the change", data)
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
		if a := AnswerFor(err); !a.Unavailable() {
			render(a.Status, a.Message)
			return nil
		}
		return err
	}
	wasEnabled := h.admin.Policy().Enabled
	applied, err := h.admin.ConfirmChange(ctx, by, prop.ID, r.PostFormValue("code"))
	a := AnswerFor(err)
	switch {
	case err == nil:
		h.site.Message(w, http.StatusOK, appliedMessage(applied, wasEnabled, back))
	case a.Code == "malformed_code" || a.Code == "wrong_code" || a.Code == "send_refused":
		render(a.Status, a.Message)
	case a.Code == "locked_out":
		h.held(w, r, a)
	case a.Code == "change_cancelled":
		back.Title, back.Lines = "Too many wrong codes", []string{a.Message}
		h.site.Message(w, a.Status, back)
	case !a.Unavailable():
		back.Title, back.Lines = "Nothing was changed", []string{a.Message}
		h.site.Message(w, a.Status, back)
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
	h.site.Message(w, http.StatusTooManyRequests, pages.Message{
		Title: "Too many attempts",
		Lines: []string{
			"For your security, code entry is paused after too many wrong codes.",
			"Try again at " + a.RetryAfter.UTC().Format("15:04") + " UTC.",
		},
	})
}

// appliedMessage is the success message of a confirmed change. When 2FA
// is on, the admin too passes it before coming back to the settings.
func appliedMessage(p policy.Policy, wasEnabled bool, back pages.Message) pages.Message {
	back.LinkText = "Back to Security settings"
	switch {
	case !p.Enabled:
		back.Title = "Two-factor authentication is disabled"
		back.Lines = []string{"Users now sign in with their password only. You can enable it again at any time from Security settings."}
	case wasEnabled:
		back.Title = "Two-factor authentication settings saved"
		back.Lines = []string{"Now in force for all users: " + p.Summary() + "."}
	default:
		back.Title = "Two-factor authentication is enabled for all users"
		back.Lines = []string{
			"Settings saved: " + p.Summary() + ".",
			"An email with setup instructions is on its way to every user. Each user sets it up at their next sign-in; users can't turn it off.",
			"You, too, will be asked to set it up before you return to Security settings.",
		}
	}
	return back
}
