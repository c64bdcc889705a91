package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// Guessing is bounded per challenge, per user (across challenges, sessions
// and instances), per client network (across accounts), and by the user's
// lock ladder; every attempt takes its place on all of them before its code
// is compared (see package verify).

// Ladder defaults: a hold after every 10 wrong codes in a row, and the
// hard hold at 50.
const (
	ladderEvery  = 10
	ladderHardAt = 50
)

func (s *Service) userFailKey(user string) store.Key {
	return store.Key{Bucket: "fail-user/" + s.cfg.Realm, ID: user}
}

func (s *Service) ipFailKey(ip string) store.Key {
	return store.Key{Bucket: "fail-ip/" + s.cfg.Realm, ID: identity.ClientKey(ip)}
}

func (s *Service) ladder(user string) *verify.Ladder {
	return &verify.Ladder{Key: accounts.Keys{Realm: s.cfg.Realm}.Ladder(user), Every: ladderEvery, Waits: verify.DefaultWaits, HardAt: ladderHardAt}
}

// attemptCounters bound one code check: the client network, the user and,
// when there is one, the challenge (a flow or an admin's proposal), which
// the caller names and limits.
func (s *Service) attemptCounters(user, ip string, challenge *verify.Counter) []verify.Counter {
	cs := []verify.Counter{
		{Name: "ip", Key: s.ipFailKey(ip), Limit: s.cfg.IPFailLimit, Window: s.cfg.IPFailWindow},
		{Name: "user", Key: s.userFailKey(user), Limit: s.cfg.UserFailLimit, Window: s.cfg.UserFailWindow},
	}
	if ip == "" {
		cs = cs[1:]
	}
	if challenge != nil {
		cs = append(cs, *challenge)
	}
	return cs
}

// flowAttempts is the counter of one challenge's wrong codes.
func (s *Service) flowAttempts(flowID string) *verify.Counter {
	return &verify.Counter{Name: "challenge", Key: store.Key{Bucket: "attempts/" + s.cfg.Realm, ID: flowID}, Limit: s.cfg.MaxCodeAttempts, Window: s.cfg.FlowLifetime}
}

// reserveAttempt takes one attempt at a code for the user; refused says
// the code must not be compared, and why.
func (s *Service) reserveAttempt(ctx context.Context, user, ip string, challenge *verify.Counter) (*verify.Attempt, *verify.Refused, error) {
	ladder := s.ladder(user)
	a, err := verify.Reserve(ctx, s.backend, s.cfg.Now(), ladder, s.attemptCounters(user, ip, challenge)...)
	var refused *verify.Refused
	if errors.As(err, &refused) {
		s.event("attempt_refused")
		return nil, refused, nil
	}
	return a, nil, err
}

// wrongCode counts a wrong code; when it began a hold, the user is told by
// email and the hold is audited.
func (s *Service) wrongCode(ctx context.Context, r *http.Request, id identity.Identity, a *verify.Attempt) {
	s.event("wrong_code")
	s.cfg.Logger.Info("wrong two-factor code", "realm", s.cfg.Realm, "user", id.ID, "client_ip", s.cfg.ClientIP(r))
	step := a.Failed()
	if !step.Reached() {
		return
	}
	detail := fmt.Sprintf("%d wrong codes in a row: code entry held for %s", step.Streak, minutes(step.Wait))
	if step.Hard {
		detail = fmt.Sprintf("%d wrong codes in a row: code entry held until unlocked", step.Streak)
		s.event("user_hard_locked")
	} else {
		s.event("user_locked_out")
	}
	s.cfg.Logger.Warn("two-factor code entry held", "realm", s.cfg.Realm, "user", id.ID, "detail", detail)
	s.auditEvent(ctx, accounts.AuditEvent{Actor: id.ID, Action: "locked_out", Subject: id.ID, IP: s.cfg.ClientIP(r), Detail: detail})
	s.mailLockNotice(ctx, id, step)
}

// mailLockNotice tells the user their code entry is held: someone may know
// their password.
func (s *Service) mailLockNotice(ctx context.Context, id identity.Identity, step verify.Step) {
	to := id.Email
	if to == "" {
		if u, err := accounts.GetUser(ctx, s.backend, s.cfg.Realm, id.ID); err == nil {
			to = u.Email
		}
	}
	if to == "" || s.cfg.EmailSender == nil {
		return
	}
	m := notify.LockNotice(notify.LockMessage{Org: s.cfg.Issuer, Wrong: step.Streak, Wait: step.Wait, Hard: step.Hard, SiteURL: s.cfg.SiteURL, UnlockPath: s.cfg.PathPrefix + "/unlock"})
	m.To = to
	if err := s.cfg.EmailSender.SendEmail(context.WithoutCancel(ctx), m); err != nil {
		s.cfg.Logger.Error("could not send the code-entry hold notice", "user", id.ID, "error", err)
	}
}

// heldAfter is the hold a wrong code left behind, if any: a ladder step, or
// a counter it used up (the next attempt would be refused, so say so now).
func (s *Service) heldAfter(a *verify.Attempt) *verify.Refused {
	step := a.Failed()
	switch {
	case step.Hard:
		return &verify.Refused{Hard: true}
	case step.Reached():
		return &verify.Refused{Until: s.cfg.Now().Add(step.Wait)}
	}
	if name, until, ok := a.Spent(); ok {
		return &verify.Refused{Counter: name, Until: until}
	}
	return nil
}

// refusedAttempt answers an attempt that was not made.
func (s *Service) refusedAttempt(w http.ResponseWriter, r *http.Request, refused *verify.Refused, endFlow func()) {
	switch {
	case refused.Counter == "challenge":
		if endFlow != nil {
			endFlow()
		}
		s.pages.message(w, r, http.StatusTooManyRequests, messagePage{
			Title:    "Too many wrong codes",
			Lines:    []string{"This sign-in attempt has ended after too many wrong codes.", "Start again to get a new chance. If you keep having trouble, contact your administrator."},
			LinkText: "Start again",
			LinkURL:  s.cfg.PathPrefix + "/",
		})
	case refused.Hard:
		s.redirect(w, r, s.cfg.PathPrefix+"/unlock")
	default:
		s.locked(w, r, refused.Until)
	}
}

func (s *Service) locked(w http.ResponseWriter, r *http.Request, until time.Time) {
	w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(s.cfg.Now()).Seconds())+1))
	s.pages.message(w, r, http.StatusTooManyRequests, messagePage{
		Title: "Too many attempts",
		Lines: []string{
			"For your security, code entry is paused after too many wrong codes.",
			"Try again at " + until.UTC().Format("15:04") + " UTC.",
			"If you didn't try to sign in, contact your administrator: someone may know your password.",
		},
	})
}
