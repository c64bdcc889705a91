package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
)

// available reports whether the operator can deliver the method.
func (s *Service) available(method string) bool {
	switch method {
	case policy.MethodTOTP:
		return true
	case policy.MethodEmail:
		return s.cfg.EmailSender != nil
	case policy.MethodSMS:
		return s.cfg.SMSSender != nil
	}
	return false
}

// otpPage is the page of a method whose codes we send (email, SMS).
type otpPage struct {
	Method       string
	MethodName   string
	Enroll       bool
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

func (s *Service) emailHelp(target string) []string {
	return []string{
		"Check your spam or junk folder.",
		"Make sure " + target + " is your address. If it isn't, contact your administrator.",
		"Codes can take a minute to arrive. Still nothing? Send a new code (you can ask once every " + seconds(s.cfg.EmailCooldown) + ").",
		"Use another method if you have one set up.",
		"Still stuck? Contact your organization's administrator for help.",
	}
}

func (s *Service) smsHelp(target string) []string {
	return []string{
		"Check that your phone number is " + target + " and that your phone has signal.",
		"Texts can take a minute to arrive. Still nothing? Send a new code (you can ask once every " + seconds(s.cfg.SMSCooldown) + ").",
		"Use another method if you have one set up.",
		"Still stuck? Contact your organization's administrator for help.",
	}
}

// otherMethods offers "Try another method" on a verify page.
func (s *Service) otherMethods(u *accounts.User, current string) []methodChoice {
	var out []methodChoice
	for _, m := range s.usableMethods(u) {
		if m != current {
			out = append(out, methodChoice{Method: m, Name: methodNames[m], URL: s.cfg.PathPrefix + "/verify/" + m})
		}
	}
	return out
}

// sentMethod runs an email or SMS page: enrollment when enroll is set,
// else verification with the enrolled address.
func (s *Service) sentMethod(w http.ResponseWriter, r *http.Request, id identity.Identity, method string, enroll bool) error {
	ctx := r.Context()
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	if !s.policy.Current().Allows(method) || !s.available(method) {
		s.redirect(w, r, s.cfg.PathPrefix+"/")
		return nil
	}
	purpose := PurposeLogin
	var target string
	if enroll {
		if ok, err := s.mayEnroll(w, r, id, u); !ok || err != nil {
			return err
		}
		purpose = PurposeEnroll
	} else {
		enr, ok := u.Enrollment(method)
		if !ok {
			s.redirect(w, r, s.cfg.PathPrefix+"/")
			return nil
		}
		if need, err := s.needsCode(r, id); err != nil || !need {
			if err == nil {
				s.redirect(w, r, s.cfg.PathPrefix+"/")
			}
			return err
		}
		target = enr.Target
	}
	f, err := s.flowFor(w, r, id)
	if err != nil {
		return err
	}
	if enroll {
		target = s.enrollTarget(method, id, u, f)
		if method == policy.MethodEmail && target == "" {
			s.pages.message(w, r, http.StatusOK, messagePage{
				Title:    "No email address on your account",
				Lines:    []string{"We don't know an email address for you, so we can't send you codes by email. Choose another method, or ask your administrator to add your address."},
				LinkText: "Choose another method", LinkURL: s.cfg.PathPrefix + "/enroll",
			})
			return nil
		}
	}
	sentAt, sentTo, err := s.lastSent(ctx, f, method)
	if err != nil {
		return err
	}
	data := otpPage{Method: method, MethodName: methodNames[method], Enroll: enroll, Action: r.URL.Path, Lifetime: minutes(s.cfg.CodeLifetime)}
	if !enroll {
		data.Others = s.otherMethods(u, method)
	}
	render := func(status int, msg string) {
		if sentTo != "" {
			target = sentTo
		}
		data.Target = mask(method, target)
		data.Sent = !sentAt.IsZero()
		if data.Sent {
			cooldown := s.cfg.EmailCooldown
			if method == policy.MethodSMS {
				cooldown = s.cfg.SMSCooldown
			}
			data.WaitFor = max(0, int(sentAt.Add(cooldown).Sub(s.cfg.Now()).Seconds()+0.999))
		}
		data.PhoneEntry = enroll && method == policy.MethodSMS
		if method == policy.MethodSMS {
			data.Help = s.smsHelp(data.Target)
		} else {
			data.Help = s.emailHelp(data.Target)
		}
		data.CSRF = s.csrfToken(w, r, id.ID)
		data.Error = msg
		data.RememberDays = s.policy.Current().RememberDays
		title := "Enter your code"
		if enroll {
			title = "Set up " + strings.ToLower(methodNames[method])
		}
		s.pages.render(w, status, "otp", title, data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	if r.PostFormValue("action") == "send" {
		if enroll && method == policy.MethodSMS {
			if typed := strings.TrimSpace(r.PostFormValue("phone")); typed != "" {
				number, err := s.checkPhone(typed)
				if err != nil {
					data.Phone = typed
					render(http.StatusUnprocessableEntity, err.Error())
					return nil
				}
				target = number
			}
			if target == "" {
				render(http.StatusUnprocessableEntity, "Enter your mobile number, with its country code.")
				return nil
			}
			if _, err := s.checkPhone(target); err != nil {
				render(http.StatusUnprocessableEntity, err.Error())
				return nil
			}
		}
		return s.answerSend(w, r, s.sendCode(ctx, f, id.ID, method, target, purpose), r.URL.Path, render, ", or use another method")
	}
	if sentAt.IsZero() {
		render(http.StatusUnprocessableEntity, "Send yourself a code first.")
		return nil
	}
	return s.checkCode(w, r, id, f, render, func(code string) (bool, error) {
		usedTarget, ok, err := s.checkSentCode(ctx, f, id.ID, method, purpose, code)
		if err != nil || !ok {
			return false, err
		}
		now := s.cfg.Now().UTC()
		var u *accounts.User
		if enroll {
			u, err = s.newMethod(ctx, id.ID, accounts.Enrollment{Method: method, Target: usedTarget, EnrolledAt: now})
		} else {
			u, err = accounts.UpdateUser(ctx, s.backend, s.cfg.Realm, id.ID, func(u *accounts.User) error {
				u.LastVerified = now
				return nil
			})
			s.event("verified_" + method)
		}
		if err != nil {
			return false, err
		}
		return true, s.succeed(w, r, id, f, u)
	})
}

// enrollTarget is where an enrollment code goes: the address the app
// knows, or for SMS a number the user typed earlier in this challenge.
func (s *Service) enrollTarget(method string, id identity.Identity, u *accounts.User, f *accounts.Flow) string {
	switch method {
	case policy.MethodEmail:
		if id.Email != "" {
			return id.Email
		}
		return u.Email
	case policy.MethodSMS:
		if id.Phone != "" {
			if n, err := s.checkPhone(id.Phone); err == nil {
				return n
			}
		}
		if u.Phone != "" {
			if n, err := s.checkPhone(u.Phone); err == nil {
				return n
			}
		}
	}
	return ""
}

// checkPhone validates a number and the operator's country list.
func (s *Service) checkPhone(raw string) (string, error) {
	n, err := notify.NormalizePhone(raw, s.cfg.PhoneRegion)
	if err != nil {
		return "", err
	}
	if !notify.AllowedCountry(n, s.cfg.SMSCountries) {
		return "", errors.New("We can't send text messages to numbers in that country. Choose another method.")
	}
	return n, nil
}

// enrolled records a new method and tells the user by email, so a method
// added by someone else does not go unnoticed.
func (s *Service) enrolled(ctx context.Context, u *accounts.User, method string) {
	s.cfg.Logger.Info("user enrolled a method", "realm", s.cfg.Realm, "user", u.ID, "method", method)
	s.event("enrolled_" + method)
	s.auditEvent(ctx, accounts.AuditEvent{Actor: u.ID, Action: "enrolled", Subject: u.ID, Detail: methodNames[method]})
	if s.cfg.EmailSender == nil || u.Email == "" {
		return
	}
	m := notify.MethodAddedEmail(s.cfg.Issuer, displayName(u), methodNames[method], s.cfg.Now())
	m.To = u.Email
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.cfg.EmailSender.SendEmail(ctx, m); err != nil {
		s.cfg.Logger.Warn("could not send the method-added notice", "user", u.ID, "error", err)
	}
}

func displayName(u *accounts.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

// methodsPage lets a verified user pick their preferred method and set up
// more; it offers no way to turn two-factor authentication off.
type methodsPage struct {
	CSRF      string
	Notice    string
	Enrolled  []methodRow
	Available []methodChoice
}

type methodRow struct {
	Method, Name, Target string
	Preferred            bool
}

func (s *Service) methods(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ok, err := s.verified(r, id)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := s.startFlow(w, r, id, s.cfg.PathPrefix+"/methods"); err != nil {
			return err
		}
		s.redirect(w, r, s.cfg.PathPrefix+"/")
		return nil
	}
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	notice := ""
	if r.Method == http.MethodPost {
		want := r.PostFormValue("preferred")
		if slices.Contains(s.usableMethods(u), want) {
			if u, err = accounts.UpdateUser(r.Context(), s.backend, s.cfg.Realm, id.ID, func(u *accounts.User) error {
				u.Preferred = want
				return nil
			}); err != nil {
				return err
			}
			notice = methodNames[want] + " is now your preferred method."
		}
	}
	data := methodsPage{CSRF: s.csrfToken(w, r, id.ID), Notice: notice}
	usable := s.usableMethods(u)
	for _, m := range usable {
		e, _ := u.Enrollment(m)
		data.Enrolled = append(data.Enrolled, methodRow{Method: m, Name: methodNames[m], Target: mask(m, e.Target), Preferred: m == u.Preferred || (u.Preferred == "" && m == usable[0])})
	}
	for _, m := range s.policy.Current().Ordered() {
		if s.available(m) && !slices.Contains(usable, m) {
			data.Available = append(data.Available, methodChoice{Method: m, Name: methodNames[m], Description: methodDescriptions[m], URL: s.cfg.PathPrefix + "/enroll/" + m})
		}
	}
	s.pages.render(w, http.StatusOK, "methods", "Your sign-in methods", data)
	return nil
}

// seconds says a short duration in words: "30 seconds", "1 second".
func seconds(d time.Duration) string {
	n := max(1, int(d.Round(time.Second)/time.Second))
	return fmt.Sprintf("%d %s", n, plural(n, "second", "seconds"))
}

// minutes says a code lifetime in words: "10 minutes", "1 minute".
func minutes(d time.Duration) string {
	n := int(d.Round(time.Minute) / time.Minute)
	if n < 1 {
		return seconds(d)
	}
	return fmt.Sprintf("%d %s", n, plural(n, "minute", "minutes"))
}
