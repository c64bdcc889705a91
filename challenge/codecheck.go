package challenge

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
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
	kind := sixDigitCode(cc.web.words(r))
	kind.method = method
	return cc.checkKind(w, r, id, f, kind, render, compare)
}

// codeKind is what a form's code looks like, and what to say of it.
type codeKind struct {
	field     string // the form field; "" is "code"
	method    string // for metrics
	normalize func(string) (string, bool)
	malformed string // what to say of anything else, in the request's language
	wrong     string // what to say of a wrong one, before the tries left
}

// sixDigitCode is what a sent or an app's code looks like, said in t's
// language.
func sixDigitCode(t *locale.Words) codeKind {
	return codeKind{normalize: verify.NormalizeCode, malformed: t.T("challenge.code.malformed"), wrong: t.T("challenge.code.wrong")}
}

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
		render(http.StatusUnprocessableEntity, cc.web.words(r).N("challenge.code.tries_left", res.Left, "Wrong", kind.wrong))
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
		t := cc.web.words(r)
		cc.web.message(w, r, http.StatusTooManyRequests, pages.Message{
			Title:    t.T("challenge.too_many.title"),
			Lines:    []string{t.T("challenge.too_many.line1"), t.T("challenge.too_many.line2")},
			LinkText: t.T("challenge.too_many.link"),
			LinkURL:  cc.web.path("/"),
		})
	case res.Hold.Hard:
		cc.web.redirect(w, r, cc.web.path("/unlock"))
	default:
		cc.locked(w, r, res.Hold.Until)
	}
}

func (cc *codeCheck) locked(w http.ResponseWriter, r *http.Request, until time.Time) {
	w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(cc.now()).Seconds())+1))
	t := cc.web.words(r)
	cc.web.message(w, r, http.StatusTooManyRequests, pages.Message{
		Title: t.T("challenge.paused.title"),
		Lines: []string{
			t.T("challenge.paused.line1"),
			t.T("challenge.paused.line2", "Time", until.UTC().Format("15:04")),
			t.T("challenge.paused.line3"),
		},
	})
}
