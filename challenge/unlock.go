package challenge

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// After the ladder's last step code entry stays locked until an admin
// unlocks it, or the user does with a code emailed to them: the email
// proves the account's owner asks, and unlocking gives no access by itself
// (the second step is still needed).

// unlockAttempts bounds unlock codes per user per day.
const unlockAttempts = 5

// unlockFlow is the pseudo-challenge an unlock code is bound to.
func unlockFlow(user string) *accounts.Flow { return &accounts.Flow{ID: "unlock/" + user, User: user} }

func (s *Service) unlock(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx := r.Context()
	state, err := s.ladder(id.ID).State(ctx, s.backend)
	if err != nil {
		return err
	}
	if !state.Hard {
		s.redirect(w, r, s.cfg.PathPrefix+"/")
		return nil
	}
	u, err := s.user(r, id)
	if err != nil {
		return err
	}
	to := id.Email
	if to == "" {
		to = u.Email
	}
	f := unlockFlow(id.ID)
	sentAt, _, err := s.lastSent(ctx, f, policy.MethodEmail)
	if err != nil {
		return err
	}
	data := unlockPage{Action: r.URL.Path, Target: mask(policy.MethodEmail, to), CanEmail: to != "" && s.cfg.EmailSender != nil, Sent: !sentAt.IsZero(), Lifetime: minutes(s.cfg.CodeLifetime)}
	render := func(status int, msg string) {
		data.CSRF = s.csrfToken(w, r, id.ID)
		data.Error = msg
		s.pages.render(w, status, "unlock", "Code entry is locked", data)
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	if !data.CanEmail {
		render(http.StatusUnprocessableEntity, "")
		return nil
	}
	if r.PostFormValue("action") == "send" {
		return s.answerSend(w, r, s.sendCode(ctx, f, id.ID, policy.MethodEmail, to, PurposeUnlock), r.URL.Path, render, ", or ask your administrator to unlock your account")
	}
	code, ok := NormalizeCode(r.PostFormValue("code"))
	if !ok {
		render(http.StatusUnprocessableEntity, "Enter the 6-digit code from the email, using numbers only.")
		return nil
	}
	// The ladder holds this user, so it does not govern unlock codes: the
	// client network and a daily count do.
	counters := s.attemptCounters(id.ID, s.cfg.ClientIP(r), nil)[:1]
	if s.cfg.ClientIP(r) == "" {
		counters = nil
	}
	counters = append(counters, verify.Counter{Name: "unlock", Key: store.Key{Bucket: "attempts/" + s.cfg.Realm, ID: "unlock/" + id.ID}, Limit: unlockAttempts, Window: 24 * time.Hour})
	_, err = verify.Reserve(ctx, s.backend, s.cfg.Now(), nil, counters...)
	var refused *verify.Refused
	if errors.As(err, &refused) {
		s.locked(w, r, refused.Until)
		return nil
	}
	if err != nil {
		return err
	}
	if _, ok, err := s.checkSentCode(ctx, f, id.ID, policy.MethodEmail, PurposeUnlock, code); err != nil || !ok {
		if err == nil {
			s.event("wrong_code")
			render(http.StatusUnprocessableEntity, "That code didn't work. Copy the newest code from the email and try again.")
		}
		return err
	}
	if err := s.ladder(id.ID).Reset(ctx, s.backend); err != nil {
		return err
	}
	s.event("unlocked")
	s.auditEvent(ctx, accounts.AuditEvent{Actor: id.ID, Action: "unlocked", Subject: id.ID, IP: s.cfg.ClientIP(r), Detail: "with a code sent to " + mask(policy.MethodEmail, to)})
	s.pages.message(w, r, http.StatusOK, messagePage{
		Title:    "Code entry is unlocked",
		Lines:    []string{"You can enter your two-factor codes again.", "If the wrong codes weren't yours, someone knows your password: change it now."},
		LinkText: "Continue",
		LinkURL:  s.cfg.PathPrefix + "/",
	})
	return nil
}

type unlockPage struct {
	Action   string
	CSRF     string
	Error    string
	Target   string
	CanEmail bool
	Sent     bool
	Lifetime string
}
