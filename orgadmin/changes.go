package orgadmin

import (
	"context"
	"errors"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// A change of the org policy: proposed by an admin, confirmed by the code
// emailed to that admin, applied if nothing changed in between. On enable,
// every known user is sent setup instructions; other admins are told.

// codeChallenge is what a confirmation code is bound to: the proposal and
// the hash of exactly what it changes.
func codeChallenge(p *policy.Proposal) string { return "admin/" + p.ID + "/" + p.Hash }

func (a *Admin) code(by Actor, p *policy.Proposal, to string) sentcode.Code {
	return sentcode.Code{Challenge: codeChallenge(p), User: by.ID, Method: policy.MethodEmail, Target: to, Purpose: sentcode.Admin}
}

// adminEmail is where an admin's confirmation codes go.
func (a *Admin) adminEmail(ctx context.Context, by Actor) (string, error) {
	if by.Email != "" {
		return by.Email, nil
	}
	u, err := accounts.GetUser(ctx, a.backend, a.cfg.Realm, by.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return u.Email, nil
}

// ProposeChange stores a change and emails its code to the admin; it
// returns the proposal and where the code went.
func (a *Admin) ProposeChange(ctx context.Context, by Actor, next policy.Policy) (*policy.Proposal, string, error) {
	if err := next.Validate(a.Availability()); err != nil {
		return nil, "", invalidChange(next, a.Availability(), err)
	}
	if err := a.checkRolloutDate(next); err != nil {
		return nil, "", err
	}
	to, err := a.adminEmail(ctx, by)
	if err != nil {
		return nil, "", err
	}
	if to == "" || a.cfg.Email == nil || a.codes == nil {
		return nil, "", ErrNoAdminEmail
	}
	p, err := policy.Propose(ctx, a.backend, a.cfg.Realm, by.ID, a.Policy().Version, next, a.cfg.Now())
	if err != nil {
		return nil, "", err
	}
	if err := a.codes.Send(ctx, a.code(by, p, to)); err != nil {
		return nil, "", err
	}
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "policy_change_proposed", IP: by.IP, Detail: next.Summary()})
	return p, to, nil
}

// Proposal is the admin's open change, and where its code was last sent.
func (a *Admin) Proposal(ctx context.Context, by Actor, id string) (*policy.Proposal, string, error) {
	p, err := policy.LoadProposal(ctx, a.backend, a.cfg.Realm, by.ID, id)
	if err != nil {
		return nil, "", err
	}
	if a.codes == nil {
		return p, "", nil
	}
	_, to, err := a.codes.Last(ctx, codeChallenge(p), policy.MethodEmail)
	return p, to, err
}

// ResendCode sends the change's code again.
func (a *Admin) ResendCode(ctx context.Context, by Actor, id string) error {
	p, err := policy.LoadProposal(ctx, a.backend, a.cfg.Realm, by.ID, id)
	if err != nil {
		return err
	}
	to, err := a.adminEmail(ctx, by)
	if err != nil {
		return err
	}
	if to == "" || a.codes == nil {
		return ErrNoAdminEmail
	}
	return a.codes.Send(ctx, a.code(by, p, to))
}

// ConfirmChange checks the admin's code for the change and applies it. A
// wrong code is a *WrongCode; a held try a *verify.Refused; a change whose
// attempts ran out is cancelled (ErrChangeCancelled).
func (a *Admin) ConfirmChange(ctx context.Context, by Actor, id, code string) (policy.Policy, error) {
	p, err := policy.LoadProposal(ctx, a.backend, a.cfg.Realm, by.ID, id)
	if err != nil {
		return policy.Policy{}, err
	}
	if a.checker == nil || a.codes == nil {
		return policy.Policy{}, ErrNoAdminEmail
	}
	try := verify.Try{User: by.ID, IP: by.IP, Challenge: "admin/" + p.ID, Limit: policy.MaxProposalAttempts, Window: policy.ProposalLifetime, Code: code, Method: "admin"}
	res, err := a.checker.Check(ctx, try, func(ctx context.Context, code string) (bool, error) {
		_, ok, err := a.codes.Take(ctx, a.code(by, p, ""), code)
		return ok, err
	})
	switch {
	case err != nil:
		return policy.Policy{}, err
	case res.Outcome == verify.Malformed:
		return policy.Policy{}, ErrMalformedCode
	case res.ChallengeOver():
		return policy.Policy{}, a.cancel(ctx, by, p)
	case res.Hold != nil:
		return policy.Policy{}, res.Hold
	case res.Outcome == verify.Wrong:
		a.cfg.Logger.Info("wrong admin confirmation code", "realm", a.cfg.Realm, "admin", by.ID)
		return policy.Policy{}, &WrongCode{Left: res.Left}
	}
	prev := a.Policy()
	applied, err := policy.Apply(ctx, a.backend, p, a.cfg.Now(), a.policy.Initial())
	if err != nil {
		if errors.Is(err, policy.ErrStale) || errors.Is(err, policy.ErrNoProposal) {
			a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "policy_change_refused", IP: by.IP, Detail: err.Error()})
		}
		return policy.Policy{}, err
	}
	a.changed(ctx, by, prev, applied)
	return applied, nil
}

func (a *Admin) cancel(ctx context.Context, by Actor, p *policy.Proposal) error {
	if err := policy.Cancel(ctx, a.backend, a.cfg.Realm, p.ID); err != nil {
		a.cfg.Logger.Warn("could not cancel a proposal", "error", err)
	}
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "policy_change_abandoned", IP: by.IP, Detail: "too many wrong codes"})
	return ErrChangeCancelled
}

// ReplacePolicy is the operator's change: no code, since Caddy's admin
// endpoint is the operator's alone. It applies only over the policy whose
// version it was given (base), or any when base is negative.
func (a *Admin) ReplacePolicy(ctx context.Context, by Actor, base int64, next policy.Policy) (policy.Policy, error) {
	next.Methods = next.Ordered()
	if err := next.Validate(a.Availability()); err != nil {
		return policy.Policy{}, invalidChange(next, a.Availability(), err)
	}
	prev, found, err := policy.Load(ctx, a.backend, a.cfg.Realm)
	if err != nil {
		return policy.Policy{}, err
	}
	if !found {
		prev = a.policy.Initial() // what users live under until a change
	}
	if base < 0 {
		base = prev.Version
	}
	next.ChangedBy, next.ChangedAt = by.ID, a.cfg.Now().UTC()
	stored, err := policy.Replace(ctx, a.backend, a.cfg.Realm, base, next, a.policy.Initial())
	if err != nil {
		return policy.Policy{}, err
	}
	a.changed(ctx, by, prev, stored)
	return stored, nil
}

// changed follows an applied change: the snapshot, the audit log, the
// setup emails (on enable) and the other admins.
func (a *Admin) changed(ctx context.Context, by Actor, prev, next policy.Policy) {
	if err := a.policy.Refresh(ctx); err != nil {
		a.cfg.Logger.Warn("could not re-read the policy after a change", "error", err)
	}
	a.audit(ctx, accounts.AuditEvent{Actor: by.ID, Action: "policy_changed", IP: by.IP, Detail: next.Summary()})
	a.cfg.Logger.Info("org policy changed", "realm", a.cfg.Realm, "admin", by.ID, "policy", next.Summary(), "version", next.Version)
	go a.tell.changed(context.WithoutCancel(ctx), by, prev, next)
}
