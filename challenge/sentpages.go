package challenge

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
)

// sentPages enroll and verify the methods whose codes we send: email and
// SMS.
type sentPages struct {
	web          *web
	users        *users
	flows        *flows
	methods      *methodSet
	stepUp       *stepUp
	check        *codeCheck
	finish       *finish
	codes        *sentcode.Sender
	backend      store.Backend
	realm        string
	policy       *policy.Snapshot
	smsCountries []int
	phoneRegion  string
	now          func() time.Time
	onEvent      func(string)
}

// otpPage is the page of a method whose codes we send.
type otpPage struct {
	Method       string
	MethodName   string
	Enroll       bool
	StepUp       bool // a step-up: "Confirm it's you"
	Action       string
	CSRF         string
	Target       string // masked address the code goes to
	Sent         bool
	WaitFor      int // seconds until a new code may be sent
	Error        string
	Notice       string
	RememberDays int
	Lifetime     string // how long a sent code works, in words
	PhoneEntry   bool   // SMS enrollment: the user may type a number
	Phone        string // the number as typed, shown back after an error
	Others       []methodChoice
	Help         []string
}

// page is the enrollment (enroll) or verification page of a method.
func (sp *sentPages) page(method string, enroll bool) pages.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
		return sp.serve(w, r, id, method, enroll)
	}
}

// one page's state: who, which method, where the code goes.
type sentVisit struct {
	id      identity.Identity
	u       *accounts.User
	f       *accounts.Flow
	method  string
	enroll  bool
	purpose string
	target  string
	sentAt  time.Time
	data    otpPage
}

func (sp *sentPages) serve(w http.ResponseWriter, r *http.Request, id identity.Identity, method string, enroll bool) error {
	if r.Method == http.MethodPost {
		r = sp.flows.readAhead(r, id, sp.check.checker.Ladder(id.ID).Key)
	}
	v, ok, err := sp.visit(w, r, id, method, enroll)
	if !ok || err != nil {
		return err
	}
	render := func(status int, msg string) { sp.render(w, r, v, status, msg) }
	switch {
	case r.Method != http.MethodPost:
		render(http.StatusOK, "")
	case r.PostFormValue("action") == "send":
		return sp.send(w, r, v, render)
	case v.sentAt.IsZero():
		render(http.StatusUnprocessableEntity, sp.web.words(r).T("challenge.code.send_first"))
	default:
		return sp.check.check(w, r, id, v.f, v.method, render, func(ctx context.Context, code string) (bool, error) {
			return sp.accept(ctx, w, r, v, code)
		})
	}
	return nil
}

// visit gathers what the page shows; ok is false when it has answered
// already (sent the user elsewhere).
func (sp *sentPages) visit(w http.ResponseWriter, r *http.Request, id identity.Identity, method string, enroll bool) (*sentVisit, bool, error) {
	u, err := sp.users.get(r, id)
	if err != nil {
		return nil, false, err
	}
	if !sp.methods.allowed(method) {
		sp.web.redirect(w, r, sp.web.path("/"))
		return nil, false, nil
	}
	v := &sentVisit{id: id, u: u, method: method, enroll: enroll, purpose: sentcode.Login}
	if enroll {
		if ok, err := sp.stepUp.mayEnroll(w, r, id, u); !ok || err != nil {
			return nil, false, err
		}
		v.purpose = sentcode.Enroll
	} else {
		enr, ok := u.Enrollment(method)
		if !ok {
			sp.web.redirect(w, r, sp.web.path("/"))
			return nil, false, nil
		}
		if need, err := sp.stepUp.needsCode(r, id); err != nil || !need {
			if err == nil {
				sp.web.redirect(w, r, sp.web.path("/"))
			}
			return nil, false, err
		}
		v.target = enr.Target
	}
	if v.f, err = sp.flows.current(w, r, id); err != nil {
		return nil, false, err
	}
	if enroll {
		v.target = sp.enrollTarget(method, id, u)
		if method == policy.MethodEmail && v.target == "" {
			t := sp.web.words(r)
			sp.web.message(w, r, http.StatusOK, pages.Message{
				Title:    t.T("challenge.no_email.title"),
				Lines:    []string{t.T("challenge.no_email.line")},
				LinkText: t.T("challenge.no_email.link"), LinkURL: sp.web.path("/enroll"),
			})
			return nil, false, nil
		}
	}
	sentAt, sentTo, err := sp.codes.Last(r.Context(), v.f.ID, method)
	if err != nil {
		return nil, false, err
	}
	v.sentAt = sentAt
	if sentTo != "" {
		v.target = sentTo
	}
	t := sp.web.words(r)
	v.data = otpPage{Method: method, MethodName: MethodName(t, method), Enroll: enroll, Action: r.URL.Path, Lifetime: minutes(t, sp.codes.Lifetime())}
	if !enroll {
		v.data.Others = sp.methods.othersIn(t, u, method)
	}
	return v, true, nil
}

func (sp *sentPages) render(w http.ResponseWriter, r *http.Request, v *sentVisit, status int, msg string) {
	data := v.data
	data.Target = sentcode.Mask(v.method, v.target)
	data.Sent = !v.sentAt.IsZero()
	if data.Sent {
		data.WaitFor = max(0, int(v.sentAt.Add(sp.cooldown(v.method)).Sub(sp.now()).Seconds()+0.999))
	}
	data.PhoneEntry = v.enroll && v.method == policy.MethodSMS
	data.Help = sp.help(sp.web.words(r), v.method, data.Target)
	data.CSRF = sp.web.token(w, r, v.id.ID)
	data.Error = msg
	data.RememberDays = sp.policy.Current().RememberDays
	title := verifyTitle(v.f)
	data.StepUp = v.f.StepUp
	if v.enroll {
		title = "challenge.otp.title_enroll_" + v.method
	}
	sp.web.render(w, r, status, "otp", title, data)
}

func (sp *sentPages) cooldown(method string) time.Duration {
	if method == policy.MethodSMS {
		return sp.codes.Limits().SMSCooldown
	}
	return sp.codes.Limits().EmailCooldown
}

// send answers "send me a code": back to the page (so a reload does not
// send again), or the page again with why nothing was sent.
func (sp *sentPages) send(w http.ResponseWriter, r *http.Request, v *sentVisit, render func(int, string)) error {
	if v.enroll && v.method == policy.MethodSMS {
		if typed := strings.TrimSpace(r.PostFormValue("phone")); typed != "" {
			number, err := sp.checkPhone(typed)
			if err != nil {
				v.data.Phone = typed
				render(http.StatusUnprocessableEntity, phoneProblem(sp.web.words(r), err))
				return nil
			}
			v.target = number
		}
		if v.target == "" {
			render(http.StatusUnprocessableEntity, sp.web.words(r).T("challenge.otp.phone_needed"))
			return nil
		}
		if _, err := sp.checkPhone(v.target); err != nil {
			render(http.StatusUnprocessableEntity, phoneProblem(sp.web.words(r), err))
			return nil
		}
	}
	err := sp.codes.Send(r.Context(), sentcode.Code{Challenge: v.f.ID, User: v.id.ID, Method: v.method, Target: v.target, Purpose: v.purpose, Words: sp.web.words(r)})
	return answerSend(w, r, sp.web, err, r.URL.Path, render, "challenge.otp.not_sent", sp.now)
}

// accept is the check of a sent code: right, it records the enrollment or
// the verification and finishes the challenge.
func (sp *sentPages) accept(ctx context.Context, w http.ResponseWriter, r *http.Request, v *sentVisit, code string) (bool, error) {
	usedTarget, ok, err := sp.codes.Take(ctx, sentcode.Code{Challenge: v.f.ID, User: v.id.ID, Method: v.method, Purpose: v.purpose}, code)
	if err != nil || !ok {
		return false, err
	}
	now := sp.now().UTC()
	if v.enroll {
		return true, sp.finish.enroll(w, r, v.id, v.f, accounts.Enrollment{Method: v.method, Target: usedTarget, EnrolledAt: now})
	}
	u, err := accounts.UpdateUser(ctx, sp.backend, sp.realm, v.id.ID, func(u *accounts.User) error {
		u.Used(v.method, now)
		return nil
	})
	sp.onEvent("verified_" + v.method)
	if err != nil {
		return false, err
	}
	return true, sp.finish.succeed(w, r, v.id, v.f, u, v.method)
}

// enrollTarget is where an enrollment code goes: the address the app
// knows, or for SMS a number the app knows.
func (sp *sentPages) enrollTarget(method string, id identity.Identity, u *accounts.User) string {
	switch method {
	case policy.MethodEmail:
		if id.Email != "" {
			return id.Email
		}
		return u.Email
	case policy.MethodSMS:
		for _, raw := range []string{id.Phone, u.Phone} {
			if raw == "" {
				continue
			}
			if n, err := sp.checkPhone(raw); err == nil {
				return n
			}
		}
	}
	return ""
}

// checkPhone validates a number and the operator's country list.
func (sp *sentPages) checkPhone(raw string) (string, error) {
	n, err := notify.NormalizePhone(raw, sp.phoneRegion)
	if err != nil {
		return "", err
	}
	if !notify.AllowedCountry(n, sp.smsCountries) {
		return "", errPhoneCountry
	}
	return n, nil
}

// errPhoneCountry: the operator does not text that country.
var errPhoneCountry = errors.New("country not allowed")

// phoneProblem says why a typed number cannot be used, in t's language.
func phoneProblem(t *locale.Words, err error) string {
	if errors.Is(err, errPhoneCountry) {
		return t.T("challenge.otp.phone_country")
	}
	return notify.PhoneErrorText(t, err)
}

// help is what to do when a code does not arrive.
func (sp *sentPages) help(t *locale.Words, method, target string) []string {
	if method == policy.MethodSMS {
		cooldown := seconds(t, sp.codes.Limits().SMSCooldown)
		return []string{
			t.T("challenge.otp.help_sms.number", "Target", target),
			t.T("challenge.otp.help_sms.wait", "Cooldown", cooldown),
			t.T("challenge.otp.help_sms.another"),
			t.T("challenge.otp.help_sms.admin"),
		}
	}
	cooldown := seconds(t, sp.codes.Limits().EmailCooldown)
	return []string{
		t.T("challenge.otp.help_email.spam"),
		t.T("challenge.otp.help_email.address", "Target", target),
		t.T("challenge.otp.help_email.wait", "Cooldown", cooldown),
		t.T("challenge.otp.help_email.another"),
		t.T("challenge.otp.help_email.admin"),
	}
}

// answerSend answers a "send a code" form: back to the page (so a reload
// does not send again), or the page again with why nothing was sent.
// notSent is the message id of what to say when delivery failed.
func answerSend(w http.ResponseWriter, r *http.Request, web *web, err error, back string, render func(int, string), notSent string, now func() time.Time) error {
	var refusal *sentcode.Refusal
	t := web.words(r)
	switch {
	case err == nil:
		web.redirect(w, r, back)
	case errors.As(err, &refusal):
		msg := refusal.Message
		if !refusal.Retry.IsZero() && refusal.Retry.Sub(now()) > time.Minute {
			msg += " " + t.T("challenge.otp.ask_again", "Time", refusal.Retry.UTC().Format("15:04"))
		}
		render(http.StatusTooManyRequests, msg)
	case errors.Is(err, sentcode.ErrDeliveryFailed):
		render(http.StatusBadGateway, t.T(notSent))
	default:
		return err
	}
	return nil
}
