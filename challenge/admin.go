package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Settings > Security: org admins enable, edit and disable two-factor
// authentication for everyone, each change confirmed by a code emailed to
// the admin; they reset users and read the audit log. The same operations
// are offered as JSON under the API prefix.

// BulkMailer sends many emails durably: the setup instructions that go to
// every user when two-factor authentication is turned on.
type BulkMailer interface {
	Enqueue(ctx context.Context, job string, items []notify.QueuedEmail) (int, error)
	Progress(ctx context.Context, job string) (notify.Progress, error)
}

// isAdmin: the identity carries the configured permission.
func (s *Service) isAdmin(id identity.Identity) bool { return id.HasGroup(s.cfg.AdminPermission) }

// adminGuard lets only admins in; while 2FA is enforced, only admins who
// passed it in this session. It has answered when it returns false.
func (s *Service) adminGuard(w http.ResponseWriter, r *http.Request, id identity.Identity, api bool) (bool, error) {
	if !s.isAdmin(id) {
		s.event("admin_denied")
		// One event per user per window, which counts the others: any
		// identified user can ask as often as they like.
		if folded, ok := s.refusals.admit("admin_denied\x00"+id.ID, s.cfg.Now()); ok {
			detail := r.Method + " " + accounts.ClipText(r.URL.Path, accounts.MaxAuditDetail)
			if folded > 0 {
				detail = fmt.Sprintf("%s (and %d more since the last entry)", detail, folded)
			}
			s.auditEvent(r.Context(), accounts.AuditEvent{Actor: id.ID, Action: "admin_denied", IP: s.cfg.ClientIP(r), Detail: detail})
		}
		if api {
			writeJSON(w, http.StatusForbidden, apiError{Error: "forbidden", Message: "You need the " + s.cfg.AdminPermission + " permission to manage security settings."})
		} else {
			s.pages.message(w, r, http.StatusForbidden, messagePage{
				Title: "You can't change security settings",
				Lines: []string{"Only administrators with the Manager permission for General Settings can manage two-factor authentication for your organization."},
			})
		}
		return false, nil
	}
	// Admins are users too: known, and sent the setup email.
	if _, err := s.rememberUser(r.Context(), id); err != nil {
		return false, err
	}
	if !s.policy.Current().Enabled {
		return true, nil
	}
	// Every admin page and change needs a code entered in the last
	// FreshFor, not only a verified session.
	ok, err := s.verified(r, id)
	if err != nil {
		return false, err
	}
	if !ok && api {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "two_factor_required", Message: "Pass two-factor authentication first.", ChallengeURL: s.cfg.PathPrefix + "/"})
		return false, nil
	}
	if !ok {
		if _, err := s.startFlow(w, r, id, s.cfg.PathPrefix+"/admin"); err != nil {
			return false, err
		}
		s.redirect(w, r, s.cfg.PathPrefix+"/")
		return false, nil
	}
	return s.stepUp(w, r, id, s.cfg.PathPrefix+"/admin", api)
}

func (s *Service) availability() policy.Availability {
	return policy.Availability{Email: s.cfg.EmailSender != nil, SMS: s.cfg.SMSSender != nil}
}

// adminEmail is where an admin's confirmation codes go.
func (s *Service) adminEmail(ctx context.Context, id identity.Identity) (string, error) {
	if id.Email != "" {
		return id.Email, nil
	}
	u, err := accounts.GetUser(ctx, s.backend, s.cfg.Realm, id.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if u != nil {
		return u.Email, nil
	}
	return "", nil
}

// proposalFlow is the pseudo-challenge a confirmation code is bound to:
// the proposal and the hash of exactly what it changes.
func proposalFlow(p *policy.Proposal) *accounts.Flow {
	return &accounts.Flow{ID: "admin/" + p.ID + "/" + p.Hash, User: p.Admin}
}

var errNoAdminEmail = errors.New("we don't know an email address for you, so we can't send the confirmation code; ask for your address to be added to your account")

// propose stores a change and emails its code to the admin.
func (s *Service) propose(ctx context.Context, id identity.Identity, next policy.Policy) (*policy.Proposal, string, error) {
	if err := next.Validate(s.availability()); err != nil {
		return nil, "", &sendRefusal{msg: err.Error()}
	}
	to, err := s.adminEmail(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if to == "" || s.cfg.EmailSender == nil {
		return nil, "", &sendRefusal{msg: errNoAdminEmail.Error()}
	}
	cur := s.policy.Current()
	p, err := policy.Propose(ctx, s.backend, s.cfg.Realm, id.ID, cur.Version, next, s.cfg.Now())
	if err != nil {
		return nil, "", err
	}
	if err := s.sendCode(ctx, proposalFlow(p), id.ID, policy.MethodEmail, to, PurposeAdmin); err != nil {
		return nil, "", err
	}
	s.auditEvent(ctx, accounts.AuditEvent{Actor: id.ID, Action: "policy_change_proposed", Detail: next.Summary()})
	return p, to, nil
}

// confirm checks the emailed code and applies the proposal.
func (s *Service) confirm(ctx context.Context, r *http.Request, id identity.Identity, p *policy.Proposal, code string) (policy.Policy, error) {
	_, ok, err := s.checkSentCode(ctx, proposalFlow(p), id.ID, policy.MethodEmail, PurposeAdmin, code)
	if err != nil {
		return policy.Policy{}, err
	}
	if !ok {
		return policy.Policy{}, errWrongCode
	}
	prev := *s.policy.Current()
	applied, err := policy.Apply(ctx, s.backend, p, s.cfg.Now())
	if err != nil {
		if errors.Is(err, policy.ErrStale) || errors.Is(err, policy.ErrNoProposal) {
			s.auditEvent(ctx, accounts.AuditEvent{Actor: id.ID, Action: "policy_change_refused", IP: s.cfg.ClientIP(r), Detail: err.Error()})
		}
		return policy.Policy{}, err
	}
	if err := s.policy.Refresh(ctx); err != nil {
		s.cfg.Logger.Warn("could not re-read the policy after a change", "error", err)
	}
	s.auditEvent(ctx, accounts.AuditEvent{Actor: id.ID, Action: "policy_changed", IP: s.cfg.ClientIP(r), Detail: applied.Summary()})
	s.cfg.Logger.Info("org policy changed", "realm", s.cfg.Realm, "admin", id.ID, "policy", applied.Summary(), "version", applied.Version)
	s.afterPolicyChange(ctx, id, prev, applied)
	return applied, nil
}

var errWrongCode = errors.New("that code didn't work")

// setupJob names the setup-email job of one enable of one realm (jobs of
// several realms may share a store).
func (s *Service) setupJob(p policy.Policy) string {
	return fmt.Sprintf("setup/%s/v%d", s.cfg.Realm, p.Version)
}

// afterPolicyChange sends the setup instructions (on enable) to every
// known user through the durable queue, and tells the other admins.
func (s *Service) afterPolicyChange(ctx context.Context, admin identity.Identity, prev, next policy.Policy) {
	ctx = context.WithoutCancel(ctx)
	go func() {
		if next.Enabled && !prev.Enabled && s.cfg.Mailer != nil {
			if err := s.queueSetupEmails(ctx, admin, next); err != nil {
				s.cfg.Logger.Error("could not queue the setup emails", "error", err)
			}
		}
		s.announceToAdmins(ctx, admin, next)
	}()
}

func (s *Service) queueSetupEmails(ctx context.Context, admin identity.Identity, p policy.Policy) error {
	job := s.setupJob(p)
	url := ""
	if s.cfg.SiteURL != "" {
		url = strings.TrimRight(s.cfg.SiteURL, "/") + "/"
	}
	var names []string
	for _, m := range p.Ordered() {
		names = append(names, methodNames[m])
	}
	after := ""
	total := 0
	for {
		users, next, err := listUserRecords(ctx, s.backend, s.cfg.Realm, after, 1000)
		if err != nil {
			return err
		}
		items := make([]notify.QueuedEmail, 0, len(users))
		for _, u := range users {
			if u.Email == "" {
				continue
			}
			m := notify.SetupEmail(s.cfg.Issuer, displayName(&u), url, names, admin.ID)
			m.To = u.Email
			items = append(items, notify.QueuedEmail{Key: u.ID, Email: m})
		}
		n, err := s.cfg.Mailer.Enqueue(ctx, job, items)
		if err != nil {
			return err
		}
		total += n
		if next == "" {
			break
		}
		after = next
	}
	s.cfg.Logger.Info("setup emails queued", "realm", s.cfg.Realm, "job", job, "count", total)
	return nil
}

// listUserRecords pages through the realm's user records.
func listUserRecords(ctx context.Context, b store.Backend, realm, after string, limit int) ([]accounts.User, string, error) {
	entries, err := b.List(ctx, accounts.Keys{Realm: realm}.UsersBucket(), after, limit, false)
	if err != nil {
		return nil, "", err
	}
	out := make([]accounts.User, 0, len(entries))
	for _, e := range entries {
		var u accounts.User
		if jsonUnmarshal(e.Value, &u) == nil {
			out = append(out, u)
		}
	}
	next := ""
	if len(entries) == limit {
		next = entries[len(entries)-1].ID
	}
	return out, next, nil
}

// announceToAdmins emails every other known admin about a change.
func (s *Service) announceToAdmins(ctx context.Context, admin identity.Identity, p policy.Policy) {
	if s.cfg.EmailSender == nil {
		return
	}
	after := ""
	for {
		users, next, err := listUserRecords(ctx, s.backend, s.cfg.Realm, after, 1000)
		if err != nil {
			s.cfg.Logger.Warn("could not list admins to announce a change", "error", err)
			return
		}
		for _, u := range users {
			if u.ID == admin.ID || u.Email == "" || !slices.Contains(u.Groups, s.cfg.AdminPermission) {
				continue
			}
			m := notify.PolicyChangedEmail(s.cfg.Issuer, admin.ID, p.Summary(), s.cfg.Now())
			m.To = u.Email
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := s.cfg.EmailSender.SendEmail(sctx, m); err != nil {
				s.cfg.Logger.Warn("could not announce a change to an admin", "admin", u.ID, "error", err)
			}
			cancel()
		}
		if next == "" {
			return
		}
		after = next
	}
}

// resetUser is the admin's "Reset 2FA": the user enrolls again at next
// login, their devices are revoked, and they are told by email.
func (s *Service) resetUser(ctx context.Context, r *http.Request, admin identity.Identity, user string) error {
	u, err := accounts.ResetUser(ctx, s.backend, s.cfg.Realm, user)
	if err != nil {
		return err
	}
	s.cfg.OnUserChanged(user)
	s.auditEvent(ctx, accounts.AuditEvent{Actor: admin.ID, Action: "user_reset", Subject: user, IP: s.cfg.ClientIP(r)})
	s.cfg.Logger.Info("user's two-factor authentication reset", "realm", s.cfg.Realm, "user", user, "admin", admin.ID)
	if s.cfg.EmailSender != nil && u.Email != "" {
		m := notify.ResetEmail(s.cfg.Issuer, displayName(u), admin.ID, s.cfg.Now())
		m.To = u.Email
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.cfg.EmailSender.SendEmail(sctx, m); err != nil {
			s.cfg.Logger.Warn("could not send the reset notice", "user", user, "error", err)
		}
	}
	return nil
}

// unlockUser is the admin's "Unlock": code entry held after many wrong
// codes is open again.
func (s *Service) unlockUser(ctx context.Context, r *http.Request, admin identity.Identity, user string) error {
	if err := accounts.UnlockUser(ctx, s.backend, s.cfg.Realm, user); err != nil {
		return err
	}
	s.auditEvent(ctx, accounts.AuditEvent{Actor: admin.ID, Action: "unlocked", Subject: user, IP: s.cfg.ClientIP(r)})
	return nil
}

func (s *Service) revokeUserDevices(ctx context.Context, r *http.Request, admin identity.Identity, user string) (int, error) {
	n, err := accounts.RevokeDevices(ctx, s.backend, s.cfg.Realm, user, nil, "")
	if err != nil {
		return n, err
	}
	s.auditEvent(ctx, accounts.AuditEvent{Actor: admin.ID, Action: "devices_revoked", Subject: user, IP: s.cfg.ClientIP(r), Detail: strconv.Itoa(n) + " devices"})
	return n, nil
}

// ---- pages ----

type adminPage struct {
	CSRF        string
	Policy      policy.Policy
	Methods     []string // names of the enabled methods
	Notice      string
	Error       string
	Users       []accounts.UserSummary
	NextUsers   string
	Audit       []accounts.AuditEvent
	Mail        *notify.Progress
	Immediately bool
	Prefix      string
	// The edit dialog.
	Choices      []adminMethod
	Remember     bool
	RememberDays int
	// The code step.
	Change  string
	SentTo  string
	Action  string
	Enroll  bool
	Summary string
	Disable bool
}

type adminMethod struct {
	Method, Name, Note string
	Checked, Disabled  bool
}

func (s *Service) adminRoute(w http.ResponseWriter, r *http.Request, id identity.Identity, rest string) error {
	if ok, err := s.adminGuard(w, r, id, false); !ok || err != nil {
		return err
	}
	switch rest {
	case "", "/":
		return s.adminHome(w, r, id, "")
	case "/edit", "/enable":
		return s.adminEdit(w, r, id)
	case "/disable":
		return s.adminDisable(w, r, id)
	case "/confirm":
		return s.adminConfirm(w, r, id)
	case "/users/reset", "/users/revoke", "/users/unlock":
		if r.Method != http.MethodPost {
			s.redirect(w, r, s.cfg.PathPrefix+"/admin")
			return nil
		}
		user := r.PostFormValue("user")
		var notice string
		if rest == "/users/reset" {
			if err := s.resetUser(r.Context(), r, id, user); errors.Is(err, accounts.ErrNoSuchUser) {
				notice = "No such user."
			} else if err != nil {
				return err
			} else {
				notice = "Two-factor authentication was reset for " + user + ". They'll set it up again at their next sign-in."
			}
		} else if rest == "/users/unlock" {
			if err := s.unlockUser(r.Context(), r, id, user); err != nil {
				return err
			}
			notice = "Code entry was unlocked for " + user + "."
		} else {
			n, err := s.revokeUserDevices(r.Context(), r, id, user)
			if err != nil {
				return err
			}
			notice = fmt.Sprintf("Removed %d trusted %s of %s.", n, plural(n, "device", "devices"), user)
		}
		return s.adminHome(w, r, id, notice)
	case "/audit":
		return s.adminAudit(w, r, id)
	}
	s.pages.message(w, r, http.StatusNotFound, messagePage{Title: "Page not found", LinkText: "Security settings", LinkURL: s.cfg.PathPrefix + "/admin"})
	return nil
}

func (s *Service) adminHome(w http.ResponseWriter, r *http.Request, id identity.Identity, notice string) error {
	ctx := r.Context()
	p := *s.policy.Current()
	data := adminPage{CSRF: s.csrfToken(w, r, id.ID), Policy: p, Notice: notice, Immediately: s.cfg.EnforceImmediately, Prefix: s.cfg.PathPrefix}
	for _, m := range p.Ordered() {
		data.Methods = append(data.Methods, methodNames[m])
	}
	users, next, err := accounts.ListUsers(ctx, s.backend, s.cfg.Realm, r.URL.Query().Get("after"), 50)
	if err != nil {
		return err
	}
	data.Users, data.NextUsers = users, next
	if data.Audit, err = accounts.ListAudit(ctx, s.backend, s.cfg.Realm, "", 10); err != nil {
		return err
	}
	if s.cfg.Mailer != nil && p.Version > 0 && p.Enabled {
		if prog, err := s.cfg.Mailer.Progress(ctx, s.setupJob(p)); err == nil && prog.Total > 0 {
			data.Mail = &prog
		}
	}
	s.pages.render(w, http.StatusOK, "admin", "Security settings", data)
	return nil
}

func (s *Service) adminEdit(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	cur := *s.policy.Current()
	data := adminPage{CSRF: s.csrfToken(w, r, id.ID), Policy: cur, Immediately: s.cfg.EnforceImmediately, Prefix: s.cfg.PathPrefix}
	checked := cur.Methods
	remember, days := cur.RememberDays > 0, cur.RememberDays
	status := http.StatusOK
	if r.Method == http.MethodPost {
		checked = r.PostForm["method"]
		remember = r.PostFormValue("remember") != ""
		days, _ = strconv.Atoi(strings.TrimSpace(r.PostFormValue("remember_days")))
		next := policy.Policy{Enabled: true, Methods: policy.Policy{Methods: checked}.Ordered()}
		switch {
		case len(next.Methods) == 0:
			data.Error = "Choose at least one verification method."
		case remember && (days < 1 || days > policy.MaxRememberDays):
			data.Error = fmt.Sprintf("Enter how many days to remember devices, from 1 to %d.", policy.MaxRememberDays)
		default:
			if remember {
				next.RememberDays = days
			}
			msg, err := s.proposeAndConfirm(w, r, id, next)
			if msg == "" || err != nil {
				return err
			}
			data.Error = msg
		}
		status = http.StatusUnprocessableEntity
	}
	for _, m := range policy.AllMethods {
		c := adminMethod{Method: m, Name: adminMethodNames[m], Checked: slices.Contains(checked, m), Disabled: !s.available(m)}
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
		data.Choices = append(data.Choices, c)
	}
	data.Remember, data.RememberDays = remember, max(days, 1)
	if days == 0 {
		data.RememberDays = 30
	}
	title := "Enable two-factor authentication for all users"
	if cur.Enabled {
		title = "Edit two-factor authentication"
	}
	s.pages.render(w, status, "admin_edit", title, data)
	return nil
}

// proposeAndConfirm proposes a change and sends the admin to its code
// step; msg says why not when the proposal was refused.
func (s *Service) proposeAndConfirm(w http.ResponseWriter, r *http.Request, id identity.Identity, next policy.Policy) (msg string, err error) {
	prop, _, err := s.propose(r.Context(), id, next)
	var refusal *sendRefusal
	switch {
	case err == nil:
		s.redirect(w, r, s.cfg.PathPrefix+"/admin/confirm?change="+prop.ID)
		return "", nil
	case errors.As(err, &refusal):
		return refusal.msg, nil
	case errors.Is(err, errDeliveryFailed):
		return "We couldn't send the confirmation code. Try again in a moment.", nil
	}
	return "", err
}

var adminMethodNames = map[string]string{
	policy.MethodEmail: "Email verification",
	policy.MethodSMS:   "SMS verification",
	policy.MethodTOTP:  "Authenticator app",
}

func (s *Service) adminDisable(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	cur := *s.policy.Current()
	data := adminPage{CSRF: s.csrfToken(w, r, id.ID), Policy: cur, Disable: true, Prefix: s.cfg.PathPrefix}
	if r.Method == http.MethodPost {
		next := policy.Policy{Enabled: false, Methods: cur.Methods, RememberDays: cur.RememberDays}
		msg, err := s.proposeAndConfirm(w, r, id, next)
		if msg == "" || err != nil {
			return err
		}
		data.Error = msg
	}
	s.pages.render(w, http.StatusOK, "admin_disable", "Disable two-factor authentication", data)
	return nil
}

func (s *Service) adminConfirm(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx := r.Context()
	change := r.FormValue("change")
	prop, err := policy.LoadProposal(ctx, s.backend, s.cfg.Realm, id.ID, change)
	if errors.Is(err, policy.ErrNoProposal) {
		s.pages.message(w, r, http.StatusGone, messagePage{Title: "This change has expired", Lines: []string{policy.ErrNoProposal.Error()}, LinkText: "Security settings", LinkURL: s.cfg.PathPrefix + "/admin"})
		return nil
	}
	if err != nil {
		return err
	}
	_, sentTo, err := s.lastSent(ctx, proposalFlow(prop), policy.MethodEmail)
	if err != nil {
		return err
	}
	data := adminPage{
		Change: prop.ID, SentTo: mask(policy.MethodEmail, sentTo), Summary: prop.Next.Summary(),
		Disable: !prop.Next.Enabled, Action: s.cfg.PathPrefix + "/admin/confirm?change=" + prop.ID, Prefix: s.cfg.PathPrefix,
	}
	render := func(status int, msg string) {
		data.CSRF = s.csrfToken(w, r, id.ID)
		data.Error = msg
		s.pages.render(w, status, "admin_confirm", "Confirm the change", data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	if r.PostFormValue("action") == "send" {
		to, err := s.adminEmail(ctx, id)
		if err != nil {
			return err
		}
		return s.answerSend(w, r, s.sendCode(ctx, proposalFlow(prop), id.ID, policy.MethodEmail, to, PurposeAdmin), data.Action, render, "")
	}
	wasEnabled := s.policy.Current().Enabled
	applied, out, held, err := s.confirmWithCode(ctx, r, id, prop, r.PostFormValue("code"))
	switch out {
	case confirmApplied:
		s.pages.message(w, r, http.StatusOK, s.appliedMessage(applied, wasEnabled))
		return nil
	case confirmHeld:
		s.refusedAttempt(w, r, held, nil)
		return nil
	case confirmMalformed:
		render(http.StatusUnprocessableEntity, "Enter the 6-digit code from the email, using numbers only.")
		return nil
	case confirmCancelled:
		s.pages.message(w, r, http.StatusTooManyRequests, messagePage{Title: "Too many wrong codes", Lines: []string{"This change was cancelled. Nothing was changed; start again to try once more."}, LinkText: "Security settings", LinkURL: s.cfg.PathPrefix + "/admin"})
		return nil
	case confirmWrong:
		render(http.StatusUnprocessableEntity, "That code didn't work. Copy the newest code from the email and try again.")
		return nil
	}
	switch {
	case errors.Is(err, policy.ErrStale), errors.Is(err, policy.ErrNoProposal):
		s.pages.message(w, r, http.StatusConflict, messagePage{Title: "Nothing was changed", Lines: []string{err.Error()}, LinkText: "Security settings", LinkURL: s.cfg.PathPrefix + "/admin"})
	default:
		return err
	}
	return nil
}

// appliedMessage is the success message of a confirmed change. When 2FA
// is on, the admin too passes it before coming back to the settings.
func (s *Service) appliedMessage(p policy.Policy, wasEnabled bool) messagePage {
	if !p.Enabled {
		return messagePage{
			Title:    "Two-factor authentication is disabled",
			Lines:    []string{"Users now sign in with their password only. You can enable it again at any time from Security settings."},
			LinkText: "Back to Security settings", LinkURL: s.cfg.PathPrefix + "/admin",
		}
	}
	if wasEnabled {
		return messagePage{
			Title:    "Two-factor authentication settings saved",
			Lines:    []string{"Now in force for all users: " + p.Summary() + "."},
			LinkText: "Back to Security settings", LinkURL: s.cfg.PathPrefix + "/admin",
		}
	}
	return messagePage{
		Title: "Two-factor authentication is enabled for all users",
		Lines: []string{
			"Settings saved: " + p.Summary() + ".",
			"An email with setup instructions is on its way to every user. Each user sets it up at their next sign-in; users can't turn it off.",
			"You, too, will be asked to set it up before you return to Security settings.",
		},
		LinkText: "Back to Security settings", LinkURL: s.cfg.PathPrefix + "/admin",
	}
}

func (s *Service) adminAudit(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	events, err := accounts.ListAudit(r.Context(), s.backend, s.cfg.Realm, r.URL.Query().Get("before"), 50)
	if err != nil {
		return err
	}
	data := struct {
		Events []accounts.AuditEvent
		Next   string
		Prefix string
	}{Events: events, Prefix: s.cfg.PathPrefix}
	if len(events) == 50 {
		data.Next = events[len(events)-1].ID
	}
	s.pages.render(w, http.StatusOK, "admin_audit", "Audit log", data)
	return nil
}

// ---- JSON API ----

// adminAPI serves /api/admin/...: the same operations for automation.
// Posts must be JSON, which a cross-site form cannot send.
func (s *Service) adminAPI(w http.ResponseWriter, r *http.Request, id identity.Identity, rest string) {
	if ok, err := s.adminGuard(w, r, id, true); !ok || err != nil {
		if err != nil {
			s.Unavailable(w, r, err)
		}
		return
	}
	if r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !sameOrigin(r) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "bad_origin", Message: "Send JSON (Content-Type: application/json) from this site."})
			return
		}
	}
	ctx := r.Context()
	fail := func(status int, code, msg string) { writeJSON(w, status, apiError{Error: code, Message: msg}) }
	readBody := func(v any) bool {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			fail(http.StatusBadRequest, "bad_request", "The body must be a JSON object: "+err.Error())
			return false
		}
		return true
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	var err error
	switch {
	case len(parts) == 1 && parts[0] == "policy" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"policy": s.policy.Current(), "sms_available": s.cfg.SMSSender != nil, "email_available": s.cfg.EmailSender != nil})
	case len(parts) == 1 && parts[0] == "proposals" && r.Method == http.MethodPost:
		var body struct {
			Enabled      bool     `json:"enabled"`
			Methods      []string `json:"methods"`
			RememberDays int      `json:"remember_days"`
		}
		if !readBody(&body) {
			return
		}
		prop, to, perr := s.propose(ctx, id, policy.Policy{Enabled: body.Enabled, Methods: body.Methods, RememberDays: body.RememberDays})
		var refusal *sendRefusal
		switch {
		case perr == nil:
			writeJSON(w, http.StatusCreated, map[string]any{"change_id": prop.ID, "summary": prop.Next.Summary(), "code_sent_to": mask(policy.MethodEmail, to), "expires_at": prop.Created.Add(policy.ProposalLifetime)})
		case errors.As(perr, &refusal):
			fail(http.StatusUnprocessableEntity, "invalid_change", refusal.msg)
		case errors.Is(perr, errDeliveryFailed):
			fail(http.StatusBadGateway, "delivery_failed", "We couldn't send the confirmation code. Try again.")
		default:
			err = perr
		}
	case len(parts) == 3 && parts[0] == "proposals" && parts[2] == "confirm" && r.Method == http.MethodPost:
		var body struct {
			Code string `json:"code"`
		}
		if !readBody(&body) {
			return
		}
		prop, perr := policy.LoadProposal(ctx, s.backend, s.cfg.Realm, id.ID, parts[1])
		if errors.Is(perr, policy.ErrNoProposal) {
			fail(http.StatusNotFound, "no_such_change", perr.Error())
			return
		}
		if perr != nil {
			err = perr
			break
		}
		applied, out, held, cerr := s.confirmWithCode(ctx, r, id, prop, body.Code)
		switch out {
		case confirmApplied:
			writeJSON(w, http.StatusOK, map[string]any{"policy": applied})
			return
		case confirmHeld:
			writeJSON(w, http.StatusTooManyRequests, apiError{Error: "locked_out", Message: "Too many wrong codes.", RetryAfter: retryAfter(held)})
			return
		case confirmMalformed:
			fail(http.StatusUnprocessableEntity, "malformed_code", "The code is 6 digits.")
			return
		case confirmCancelled:
			fail(http.StatusTooManyRequests, "change_cancelled", "Too many wrong codes: the change was cancelled.")
			return
		case confirmWrong:
			fail(http.StatusUnprocessableEntity, "wrong_code", "That code didn't work.")
			return
		}
		switch {
		case errors.Is(cerr, policy.ErrStale):
			fail(http.StatusConflict, "stale_change", cerr.Error())
		case errors.Is(cerr, policy.ErrNoProposal):
			fail(http.StatusNotFound, "no_such_change", cerr.Error())
		default:
			err = cerr
		}
	case len(parts) == 1 && parts[0] == "users" && r.Method == http.MethodGet:
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		users, next, lerr := accounts.ListUsers(ctx, s.backend, s.cfg.Realm, r.URL.Query().Get("after"), limit)
		if lerr != nil {
			err = lerr
			break
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": users, "next": next})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "reset" && r.Method == http.MethodPost:
		if rerr := s.resetUser(ctx, r, id, parts[1]); errors.Is(rerr, accounts.ErrNoSuchUser) {
			fail(http.StatusNotFound, "no_such_user", "No such user.")
		} else if rerr != nil {
			err = rerr
		} else {
			writeJSON(w, http.StatusOK, map[string]any{"reset": parts[1]})
		}
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "unlock" && r.Method == http.MethodPost:
		if uerr := s.unlockUser(ctx, r, id, parts[1]); uerr != nil {
			err = uerr
			break
		}
		writeJSON(w, http.StatusOK, map[string]any{"unlocked": parts[1]})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "revoke-devices" && r.Method == http.MethodPost:
		n, rerr := s.revokeUserDevices(ctx, r, id, parts[1])
		if rerr != nil {
			err = rerr
			break
		}
		writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
	case len(parts) == 1 && parts[0] == "audit" && r.Method == http.MethodGet:
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 500 {
			limit = 100
		}
		events, lerr := accounts.ListAudit(ctx, s.backend, s.cfg.Realm, r.URL.Query().Get("before"), limit)
		if lerr != nil {
			err = lerr
			break
		}
		next := ""
		if len(events) == limit {
			next = events[len(events)-1].ID
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": events, "next": next})
	default:
		fail(http.StatusNotFound, "not_found", "No such API route: see the README for the admin API.")
	}
	if err != nil {
		s.Unavailable(w, r, err)
	}
}
