package challenge

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// After the ladder's last step code entry stays locked until an admin
// unlocks it, or the user does with a code emailed to them: the email
// proves the account's owner asks, and unlocking gives no access by itself
// (the second step is still needed).
type unlockPage struct {
	web      *web
	users    *users
	check    *codeCheck
	codes    *sentcode.Sender
	notices  *Notices
	backend  store.Backend
	clientIP func(*http.Request) string
	now      func() time.Time
	onEvent  func(string)
}

// unlockAttempts bound unlock codes per user per day.
const unlockAttempts = 5

type unlockData struct {
	Action   string
	CSRF     string
	Error    string
	Target   string
	CanEmail bool
	Sent     bool
	Lifetime string
}

func (up *unlockPage) serve(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx := r.Context()
	state, err := up.check.checker.Ladder(id.ID).State(ctx, up.backend)
	if err != nil {
		return err
	}
	if !state.Hard {
		up.web.redirect(w, r, up.web.path("/"))
		return nil
	}
	u, err := up.users.get(r, id)
	if err != nil {
		return err
	}
	to := id.Email
	if to == "" {
		to = u.Email
	}
	challenge := "unlock/" + id.ID
	sentAt, _, err := up.codes.Last(ctx, challenge, policy.MethodEmail)
	if err != nil {
		return err
	}
	data := unlockData{Action: r.URL.Path, Target: sentcode.Mask(policy.MethodEmail, to), CanEmail: to != "" && up.codes.Can(policy.MethodEmail), Sent: !sentAt.IsZero(), Lifetime: minutes(up.web.words(r), up.codes.Lifetime())}
	render := func(status int, msg string) {
		data.CSRF = up.web.token(w, r, id.ID)
		data.Error = msg
		up.web.render(w, r, status, "unlock", "challenge.unlock.title", data)
	}
	code := sentcode.Code{Challenge: challenge, User: id.ID, Method: policy.MethodEmail, Target: to, Purpose: sentcode.Unlock, Words: up.web.words(r)}
	switch {
	case r.Method != http.MethodPost:
		render(http.StatusOK, "")
	case !data.CanEmail:
		render(http.StatusUnprocessableEntity, "")
	case r.PostFormValue("action") == "send":
		return answerSend(w, r, up.web, up.codes.Send(ctx, code), r.URL.Path, render, "challenge.unlock.not_sent", up.now)
	default:
		return up.tryCode(w, r, id, code, render)
	}
	return nil
}

// tryCode checks an unlock code. The ladder holds this user, so it does
// not govern unlock codes: the client network and a daily count do.
func (up *unlockPage) tryCode(w http.ResponseWriter, r *http.Request, id identity.Identity, code sentcode.Code, render func(int, string)) error {
	try := verify.Try{User: id.ID, IP: up.clientIP(r), Challenge: code.Challenge, Limit: unlockAttempts, Window: 24 * time.Hour, Unlocking: true, Code: r.PostFormValue("code"), Method: "unlock"}
	res, err := up.check.checker.Check(r.Context(), try, func(ctx context.Context, typed string) (bool, error) {
		_, ok, err := up.codes.Take(ctx, code, typed)
		return ok, err
	})
	if err != nil {
		return err
	}
	t := up.web.words(r)
	switch {
	case res.Outcome == verify.Malformed:
		render(http.StatusUnprocessableEntity, t.T("challenge.unlock.malformed"))
	case res.Outcome == verify.Held:
		up.check.locked(w, r, res.Hold.Until)
	case res.Outcome == verify.Wrong:
		render(http.StatusUnprocessableEntity, t.T("challenge.unlock.wrong"))
	default:
		up.onEvent("unlocked")
		up.notices.audit(r.Context(), accounts.AuditEvent{Actor: id.ID, Action: "unlocked", Subject: id.ID, IP: up.clientIP(r), Detail: "with a code sent to " + sentcode.Mask(policy.MethodEmail, code.Target)})
		up.web.message(w, r, http.StatusOK, pages.Message{
			Title:    t.T("challenge.unlocked.title"),
			Lines:    []string{t.T("challenge.unlocked.line1"), t.T("challenge.unlocked.line2")},
			LinkText: t.T("challenge.unlocked.link"),
			LinkURL:  up.web.path("/"),
		})
	}
	return nil
}
