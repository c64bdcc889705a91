package challenge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// maxFormBytes bounds every form we read.
const maxFormBytes = 16 << 10

// ServePages answers a request under the path prefix.
func (s *Service) ServePages(w http.ResponseWriter, r *http.Request, id identity.Identity) {
	rest := strings.TrimPrefix(r.URL.Path, s.cfg.PathPrefix)
	if strings.HasPrefix(rest, "/static/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if s.pages.serveStatic(w, r, rest) {
			return
		}
	}
	if !id.Known() {
		s.pages.message(w, r, http.StatusUnauthorized, messagePage{
			Title:    "Sign in first",
			Lines:    []string{"Two-factor verification starts after you sign in to " + s.cfg.Issuer + "."},
			LinkText: "Go to sign in",
			LinkURL:  "/",
		})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.pages.message(w, r, http.StatusMethodNotAllowed, messagePage{Title: "Method not allowed", LinkText: "Continue", LinkURL: s.cfg.PathPrefix + "/"})
		return
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(rest, "/api/") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.pages.message(w, r, http.StatusRequestEntityTooLarge, messagePage{Title: "That form could not be read", Lines: []string{"Go back and try again."}, LinkText: "Start again", LinkURL: s.cfg.PathPrefix + "/"})
			return
		}
		if !s.csrfOK(r, id.ID) {
			s.event("csrf_refused")
			s.pages.message(w, r, http.StatusForbidden, messagePage{
				Title:    "This form has expired",
				Lines:    []string{"For your security we couldn't accept that form. Open the page again and re-enter the code."},
				LinkText: "Open the page again", LinkURL: r.URL.Path,
			})
			return
		}
	}
	if rest == "/api/admin" || strings.HasPrefix(rest, "/api/admin/") {
		s.adminAPI(w, r, id, strings.TrimPrefix(rest, "/api/admin"))
		return
	}
	if r.Method == http.MethodPost && codeFormPaths[rest] {
		r = s.withReadAhead(r, id)
	}
	var err error
	if rest == "/admin" || strings.HasPrefix(rest, "/admin/") {
		if err = s.adminRoute(w, r, id, strings.TrimPrefix(rest, "/admin")); err != nil {
			s.Unavailable(w, r, err)
		}
		return
	}
	switch rest {
	case "", "/":
		err = s.entry(w, r, id)
	case "/enroll":
		err = s.enrollChoice(w, r, id)
	case "/enroll/totp":
		err = s.enrollTOTP(w, r, id)
	case "/verify":
		err = s.verifyChoice(w, r, id)
	case "/verify/totp":
		err = s.verifyTOTP(w, r, id)
	case "/enroll/email":
		err = s.sentMethod(w, r, id, policy.MethodEmail, true)
	case "/enroll/sms":
		err = s.sentMethod(w, r, id, policy.MethodSMS, true)
	case "/verify/email":
		err = s.sentMethod(w, r, id, policy.MethodEmail, false)
	case "/verify/sms":
		err = s.sentMethod(w, r, id, policy.MethodSMS, false)
	case "/methods":
		err = s.methods(w, r, id)
	case "/devices":
		err = s.devicesView(w, r, id)
	case "/unlock":
		err = s.unlock(w, r, id)
	default:
		s.pages.message(w, r, http.StatusNotFound, messagePage{Title: "Page not found", LinkText: "Continue", LinkURL: s.cfg.PathPrefix + "/"})
		return
	}
	if err != nil {
		s.Unavailable(w, r, err)
	}
}

// flowFor returns the open challenge, starting one (back to "/") if the
// user came to our pages directly.
func (s *Service) flowFor(w http.ResponseWriter, r *http.Request, id identity.Identity) (*accounts.Flow, error) {
	f, err := s.loadFlow(r, id)
	if errors.Is(err, store.ErrNotFound) {
		return s.startFlow(w, r, id, "/")
	}
	return f, err
}

func (s *Service) user(r *http.Request, id identity.Identity) (*accounts.User, error) {
	u := new(accounts.User)
	err := s.getJSON(r.Context(), store.Key{Bucket: accounts.Keys{Realm: s.cfg.Realm}.UsersBucket(), ID: id.ID}, u)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := s.rememberUser(r.Context(), id); err != nil {
			return nil, err
		}
		return accounts.GetUser(r.Context(), s.backend, s.cfg.Realm, id.ID)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// usableMethods are the user's enrolled methods the policy still allows.
func (s *Service) usableMethods(u *accounts.User) []string {
	var out []string
	p := s.policy.Current()
	for _, m := range p.Ordered() {
		if _, ok := u.Enrollment(m); ok && s.available(m) {
			out = append(out, m)
		}
	}
	return out
}

func (s *Service) redirect(w http.ResponseWriter, r *http.Request, to string) {
	securityHeaders(w.Header())
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// entry sends the user where they need to be: back to the app when
// verified or when 2FA is off, else to enrollment or verification.
func (s *Service) entry(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	need, err := s.needsCode(r, id)
	if err != nil {
		return err
	}
	if !need || !s.policy.Current().Enabled {
		to := "/"
		if f, err := s.loadFlow(r, id); err == nil {
			to = f.Return
		}
		s.redirect(w, r, to)
		return nil
	}
	if _, err := s.flowFor(w, r, id); err != nil {
		return err
	}
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	held, err := s.ladder(id.ID).State(r.Context(), s.backend)
	switch {
	case err != nil:
		return err
	case held.Hard:
		s.redirect(w, r, s.cfg.PathPrefix+"/unlock")
	case len(s.usableMethods(u)) == 0:
		s.redirect(w, r, s.cfg.PathPrefix+"/enroll")
	default:
		s.redirect(w, r, s.cfg.PathPrefix+"/verify")
	}
	return nil
}

// mayEnroll: a user who already has a usable method must enter a fresh
// code before adding another, or a stolen app session (or a script in the
// app's pages) could add the thief's authenticator.
func (s *Service) mayEnroll(w http.ResponseWriter, r *http.Request, id identity.Identity, u *accounts.User) (bool, error) {
	if len(s.usableMethods(u)) == 0 {
		return true, nil
	}
	// Adding or replacing one needs a fresh code from a method they have.
	return s.stepUp(w, r, id, r.URL.Path, false)
}

type choicePage struct {
	Methods []methodChoice
	// SMSOff: the operator has not enabled SMS (a paid add-on).
	SMSOff bool
}

type methodChoice struct {
	Method, Name, Description, URL string
}

func (s *Service) enrollChoice(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	if ok, err := s.mayEnroll(w, r, id, u); !ok || err != nil {
		return err
	}
	var choices []methodChoice
	for _, m := range s.policy.Current().Ordered() {
		if s.available(m) {
			choices = append(choices, methodChoice{Method: m, Name: methodNames[m], Description: methodDescriptions[m], URL: s.cfg.PathPrefix + "/enroll/" + m})
		}
	}
	if len(choices) == 1 && len(s.usableMethods(u)) == 0 {
		s.redirect(w, r, choices[0].URL)
		return nil
	}
	s.pages.render(w, http.StatusOK, "enroll", "Set up two-factor authentication", choicePage{Methods: choices, SMSOff: s.cfg.SMSSender == nil})
	return nil
}

func (s *Service) verifyChoice(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	usable := s.usableMethods(u)
	if len(usable) == 0 {
		s.redirect(w, r, s.cfg.PathPrefix+"/enroll")
		return nil
	}
	method := usable[0]
	for _, m := range usable {
		if m == u.Preferred {
			method = m
		}
	}
	s.redirect(w, r, s.cfg.PathPrefix+"/verify/"+method)
	return nil
}

var methodNames = map[string]string{
	policy.MethodTOTP:  "Authenticator app",
	policy.MethodEmail: "Email",
	policy.MethodSMS:   "Text message (SMS)",
}

var methodDescriptions = map[string]string{
	policy.MethodTOTP:  "Use an app such as Google Authenticator, Microsoft Authenticator, 1Password or Authy to get a code.",
	policy.MethodEmail: "Get a code by email.",
	policy.MethodSMS:   "Get a code by text message.",
}

// codePage is every page with a code form.
type codePage struct {
	Method    string
	Action    string
	CSRF      string
	Error     string
	Enroll    bool
	QR        template.URL // data: URI of the QR code image
	Secret    string       // the TOTP key, grouped for typing
	OTPAuth   template.URL // otpauth://totp/... link that phones open in the app
	Account   string
	TriesLeft int
	Help      []string
	Others    []methodChoice
	// RememberDays offers "Remember this device" when above zero.
	RememberDays int
}

var totpHelp = []string{
	"Open your authenticator app and look for " + "the entry named after your organization.",
	"Codes change every 30 seconds: enter the one shown now.",
	"If codes keep failing, set your phone's date and time to update automatically.",
	"Lost your phone or removed the app? Contact your administrator to reset your two-factor setup.",
}

func (s *Service) enrollTOTP(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx := r.Context()
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	if !s.policy.Current().Allows(policy.MethodTOTP) {
		s.redirect(w, r, s.cfg.PathPrefix+"/enroll")
		return nil
	}
	if ok, err := s.mayEnroll(w, r, id, u); !ok || err != nil {
		return err
	}
	f, err := s.flowFor(w, r, id)
	if err != nil {
		return err
	}
	aad := []byte(s.cfg.Realm + "\x00" + id.ID)
	if f.PendingSecret == nil {
		seed, _, err := s.newTOTPKey(accountName(u))
		if err != nil {
			return err
		}
		sealed := s.ring.Seal(seed, aad)
		if f, err = s.updateFlow(ctx, f.ID, func(f *accounts.Flow) error {
			if f.PendingSecret == nil {
				f.PendingSecret = sealed
			}
			return nil
		}); err != nil {
			return err
		}
	}
	seed, err := s.ring.Open(f.PendingSecret, aad)
	if err != nil {
		return fmt.Errorf("open pending TOTP seed: %w", err)
	}
	key, err := s.totpKey(seed, accountName(u))
	if err != nil {
		return err
	}
	data := codePage{
		Method: policy.MethodTOTP, Action: s.cfg.PathPrefix + "/enroll/totp", Enroll: true,
		Secret: groupKey(key.Secret()), OTPAuth: template.URL(key.URL()), Account: accountName(u),
		Help: totpHelp,
	}
	png, err := qrcode.Encode(key.URL(), qrcode.Medium, 256)
	if err != nil {
		return err
	}
	data.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	render := func(status int, msg string) {
		data.CSRF = s.csrfToken(w, r, id.ID)
		data.Error = msg
		data.RememberDays = s.policy.Current().RememberDays
		s.pages.render(w, status, "enroll_totp", "Set up your authenticator app", data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	return s.checkCode(w, r, id, f, render, func(code string) (bool, error) {
		if _, ok, err := s.acceptTOTP(ctx, id.ID, seed, code, nil); !ok || err != nil {
			return false, err
		}
		u, err := s.newMethod(ctx, id.ID, accounts.Enrollment{Method: policy.MethodTOTP, Secret: f.PendingSecret, EnrolledAt: s.cfg.Now().UTC()})
		if err != nil {
			return false, err
		}
		return true, s.succeed(w, r, id, f, u)
	})
}

func (s *Service) verifyTOTP(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx := r.Context()
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	enr, ok := u.Enrollment(policy.MethodTOTP)
	if !ok || !s.policy.Current().Allows(policy.MethodTOTP) {
		s.redirect(w, r, s.cfg.PathPrefix+"/")
		return nil
	}
	if need, err := s.needsCode(r, id); err != nil || !need {
		if err == nil {
			s.redirect(w, r, s.cfg.PathPrefix+"/")
		}
		return err
	}
	f, err := s.flowFor(w, r, id)
	if err != nil {
		return err
	}
	data := codePage{Method: policy.MethodTOTP, Action: s.cfg.PathPrefix + "/verify/totp", Help: totpHelp, Others: s.otherMethods(u, policy.MethodTOTP)}
	render := func(status int, msg string) {
		data.CSRF = s.csrfToken(w, r, id.ID)
		data.Error = msg
		data.RememberDays = s.policy.Current().RememberDays
		s.pages.render(w, status, "verify", "Enter your code", data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	seed, err := s.ring.Open(enr.Secret, []byte(s.cfg.Realm+"\x00"+id.ID))
	if err != nil {
		return fmt.Errorf("open TOTP seed: %w", err)
	}
	return s.checkCode(w, r, id, f, render, func(code string) (bool, error) {
		u, ok, err := s.acceptTOTP(ctx, id.ID, seed, code, func(u *accounts.User) {
			u.LastVerified = s.cfg.Now().UTC()
		})
		if !ok || err != nil {
			return false, err
		}
		s.event("verified_totp")
		return true, s.succeed(w, r, id, f, u)
	})
}

// checkCode runs the rules every code form shares: an attempt reserved on
// the challenge, the user, the client network and the user's lock ladder
// before the code is compared (a held user's right code fails like a wrong
// one, uncompared), then the method's own check.
func (s *Service) checkCode(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow,
	render func(status int, msg string), check func(code string) (bool, error)) error {
	ctx := r.Context()
	// A code that is not six digits is no guess at the code: it costs no
	// attempt.
	code, ok := NormalizeCode(r.PostFormValue("code"))
	if !ok {
		render(http.StatusUnprocessableEntity, "Enter the 6-digit code, using numbers only.")
		return nil
	}
	a, refused, err := s.reserveAttempt(ctx, id.ID, s.cfg.ClientIP(r), s.flowAttempts(f.ID))
	if err != nil {
		return err
	}
	if refused != nil {
		s.refusedAttempt(w, r, refused, func() { s.endFlow(w, r, f) })
		return nil
	}
	good, err := check(code)
	if err != nil {
		return err
	}
	if good {
		if err := a.Succeeded(ctx); err != nil {
			s.cfg.Logger.Warn("could not reset the lock ladder after a right code", "user", id.ID, "error", err)
		}
		return nil
	}
	s.wrongCode(ctx, r, id, a)
	if held := s.heldAfter(a); held != nil {
		s.refusedAttempt(w, r, held, func() { s.endFlow(w, r, f) })
		return nil
	}
	left := a.Left("challenge")
	msg := fmt.Sprintf("That code didn't work. Check that you entered the newest code and try again. %d %s left.", left, plural(left, "try", "tries"))
	render(http.StatusUnprocessableEntity, msg)
	return nil
}

// succeed finishes a challenge: a verified session for this app session
// (and, when asked and allowed, a trusted device), and back to where the
// user was going.
func (s *Service) succeed(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, u *accounts.User) error {
	device := ""
	if r.PostFormValue("remember") != "" {
		var err error
		if device, err = s.trustDevice(w, r, u); err != nil {
			return err
		}
	}
	if err := s.issueSession(w, r, id.ID, id.AppSession, u.Epoch, device, s.cfg.Now().Unix()); err != nil {
		return err
	}
	s.endFlow(w, r, f)
	s.redirect(w, r, SafeReturnPath(f.Return, s.cfg.PathPrefix))
	return nil
}

// newMethod records an enrollment. A change of methods ends the trust of
// every device and every other session (a new epoch): whoever set up a
// method must not inherit sessions from before.
func (s *Service) newMethod(ctx context.Context, user string, e accounts.Enrollment) (*accounts.User, error) {
	u, err := accounts.EndSessions(ctx, s.backend, s.cfg.Realm, user, "", func(u *accounts.User) {
		u.SetEnrollment(e)
		u.Preferred = e.Method
		u.LastVerified = e.EnrolledAt
	})
	if err != nil {
		return nil, err
	}
	s.cfg.OnUserChanged(user)
	s.enrolled(ctx, u, e.Method)
	return u, nil
}

// NormalizeCode accepts a code as people paste it ("123 456", "123-456")
// and returns its digits; ok is false unless it is exactly six digits.
func NormalizeCode(raw string) (string, bool) {
	if len(raw) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, c := range raw {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == ' ' || c == '-' || c == '.' || c == '\t':
		default:
			return "", false
		}
	}
	if b.Len() != 6 {
		return "", false
	}
	return b.String(), true
}

func accountName(u *accounts.User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.ID
}

// groupKey writes a base32 key in groups of four for typing.
func groupKey(k string) string {
	var b strings.Builder
	for i, c := range k {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
