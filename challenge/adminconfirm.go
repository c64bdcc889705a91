package challenge

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// An admin's confirmation code follows the rule of every code: an attempt
// reserved on the proposal, the admin, the client network and the admin's
// lock ladder before the code is compared. The HTML page and the JSON API
// share it and differ only in how they answer.

// confirmOutcome is what one confirmation attempt came to.
type confirmOutcome int

const (
	confirmFailed    confirmOutcome = iota // an error, or the change could not apply (stale, gone)
	confirmApplied                         // the change is applied
	confirmHeld                            // not compared: a counter or the ladder holds code entry
	confirmMalformed                       // not a 6-digit code
	confirmWrong                           // a wrong code; tries are left
	confirmCancelled                       // the proposal's attempts ran out: it is cancelled
)

func (s *Service) proposalAttempts(p *policy.Proposal) *verify.Counter {
	return &verify.Counter{Name: "challenge", Key: store.Key{Bucket: "attempts/" + s.cfg.Realm, ID: "admin/" + p.ID}, Limit: policy.MaxProposalAttempts, Window: policy.ProposalLifetime}
}

// confirmWithCode checks an admin's code for the proposal and applies the
// change when it is right. held is set with confirmHeld; err with
// confirmFailed (policy.ErrStale and policy.ErrNoProposal among them).
func (s *Service) confirmWithCode(ctx context.Context, r *http.Request, id identity.Identity, p *policy.Proposal, raw string) (applied policy.Policy, out confirmOutcome, held *verify.Refused, err error) {
	code, ok := NormalizeCode(raw)
	if !ok {
		return applied, confirmMalformed, nil, nil
	}
	a, refused, err := s.reserveAttempt(ctx, id.ID, s.cfg.ClientIP(r), s.proposalAttempts(p))
	switch {
	case err != nil:
		return applied, confirmFailed, nil, err
	case refused != nil && refused.Counter == "challenge":
		return applied, s.cancelProposal(ctx, r, id, p), nil, nil
	case refused != nil:
		return applied, confirmHeld, refused, nil
	}
	applied, err = s.confirm(ctx, r, id, p, code)
	if !errors.Is(err, errWrongCode) {
		if err == nil {
			if rerr := a.Succeeded(ctx); rerr != nil {
				s.cfg.Logger.Warn("could not reset the lock ladder after a right code", "user", id.ID, "error", rerr)
			}
			return applied, confirmApplied, nil, nil
		}
		return applied, confirmFailed, nil, err
	}
	s.cfg.Logger.Info("wrong admin confirmation code", "realm", s.cfg.Realm, "admin", id.ID)
	s.wrongCode(ctx, r, id, a)
	switch held := s.heldAfter(a); {
	case held != nil && held.Counter == "challenge":
		return applied, s.cancelProposal(ctx, r, id, p), nil, nil
	case held != nil:
		return applied, confirmHeld, held, nil
	}
	return applied, confirmWrong, nil, nil
}

func (s *Service) cancelProposal(ctx context.Context, r *http.Request, id identity.Identity, p *policy.Proposal) confirmOutcome {
	if err := policy.Cancel(ctx, s.backend, s.cfg.Realm, p.ID); err != nil {
		s.cfg.Logger.Warn("could not cancel a proposal", "error", err)
	}
	s.auditEvent(ctx, accounts.AuditEvent{Actor: id.ID, Action: "policy_change_abandoned", IP: s.cfg.ClientIP(r), Detail: "too many wrong codes"})
	return confirmCancelled
}

// retryAfter is when a held attempt may be made again, for the API.
func retryAfter(held *verify.Refused) string {
	if held == nil || held.Hard {
		return ""
	}
	return held.Until.UTC().Format(time.RFC3339)
}
