package challenge

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/verify"
)

// codeCheck is every code form's check, by package verify's rule, and how
// the pages answer what it came to.
type codeCheck struct {
	web      *web
	checker  *verify.Checker
	flows    *flows
	clientIP func(*http.Request) string
	now      func() time.Time
}

// check runs a code form's POST against compare. render shows the form
// again with a message. It returns an error only when the answer cannot be
// known (the page fails closed).
func (cc *codeCheck) check(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, method string,
	render func(status int, msg string), compare func(ctx context.Context, code string) (bool, error)) error {
	kind := sixDigitCode
	kind.method = method
	return cc.checkKind(w, r, id, f, kind, render, compare)
}

// codeKind is what a form's code looks like, and what to say of it.
type codeKind struct {
	field     string // the form field; "" is "code"
	method    string // for metrics
	normalize func(string) (string, bool)
	malformed string // what to say of anything else
	wrong     string // what to say of a wrong one, before the tries left
}

var sixDigitCode = codeKind{normalize: verify.NormalizeCode, malformed: "Enter the 6-digit code, using numbers only.",
	wrong: "That code didn't work. Check that you entered the newest code and try again."}

// checkKind is check for a code of another kind than six digits.
func (cc *codeCheck) checkKind(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, kind codeKind,
	render func(status int, msg string), compare func(ctx context.Context, code string) (bool, error)) error {
	field := kind.field
	if field == "" {
		field = "code"
	}
	try := verify.Try{User: id.ID, IP: cc.clientIP(r), Challenge: f.ID, Code: r.PostFormValue(field), Normalize: kind.normalize, Method: kind.method}
	res, err := cc.checker.Check(r.Context(), try, compare)
	if err != nil {
		return err
	}
	switch res.Outcome {
	case verify.Malformed:
		render(http.StatusUnprocessableEntity, kind.malformed)
	case verify.Held:
		cc.held(w, r, res, f)
	case verify.Wrong:
		if res.Hold != nil {
			cc.held(w, r, res, f)
			return nil
		}
		msg := fmt.Sprintf("%s %d %s left.", kind.wrong, res.Left, plural(res.Left, "try", "tries"))
		render(http.StatusUnprocessableEntity, msg)
	}
	return nil
}

// held answers a try that was held, or a wrong one that left a hold: the
// challenge is over, the user must wait, or code entry is locked until
// unlocked.
func (cc *codeCheck) held(w http.ResponseWriter, r *http.Request, res verify.Result, f *accounts.Flow) {
	switch {
	case res.ChallengeOver():
		if f != nil {
			cc.flows.end(w, r, f)
		}
		cc.web.message(w, http.StatusTooManyRequests, pages.Message{
			Title:    "Too many wrong codes",
			Lines:    []string{"This sign-in attempt has ended after too many wrong codes.", "Start again to get a new chance. If you keep having trouble, contact your administrator."},
			LinkText: "Start again",
			LinkURL:  cc.web.path("/"),
		})
	case res.Hold.Hard:
		cc.web.redirect(w, r, cc.web.path("/unlock"))
	default:
		cc.locked(w, res.Hold.Until)
	}
}

func (cc *codeCheck) locked(w http.ResponseWriter, until time.Time) {
	w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(cc.now()).Seconds())+1))
	cc.web.message(w, http.StatusTooManyRequests, pages.Message{
		Title: "Too many attempts",
		Lines: []string{
			"For your security, code entry is paused after too many wrong codes.",
			"Try again at " + until.UTC().Format("15:04") + " UTC.",
			"If you didn't try to sign in, contact your administrator: someone may know your password.",
		},
	})
}
