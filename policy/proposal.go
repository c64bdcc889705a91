package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// A change to the policy is proposed by an admin, confirmed with a code
// emailed to that admin, and applied exactly as proposed: the code is bound
// to the proposal's hash, and the proposal to the policy version it was
// based on, so a change made by someone else in between refuses it.

// ProposalLifetime is how long a proposal waits for its code.
const ProposalLifetime = 10 * time.Minute

// Proposal is one pending change.
type Proposal struct {
	ID      string    `json:"id"`
	Realm   string    `json:"realm"`
	Admin   string    `json:"admin"`
	Base    int64     `json:"base"` // the version it changes
	Next    Policy    `json:"next"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// MaxProposalAttempts attempts at its code end a proposal (counted by the
// caller, before each code is compared).
const MaxProposalAttempts = 5

// Hash identifies what a policy says (not who changed it when).
func (p Policy) Hash() string {
	methods := slices.Clone(p.Methods)
	slices.Sort(methods)
	text := fmt.Appendf(nil, "enabled=%t\x00methods=%s\x00remember=%d", p.Enabled, strings.Join(methods, ","), p.RememberDays)
	if p.RecoveryCodesOff {
		text = append(text, "\x00recovery=off"...)
	}
	text = append(text, p.Rollout.hashText()...)
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// Summary describes a policy in a sentence, for emails and the audit log.
func (p Policy) Summary() string {
	if !p.Enabled {
		return "two-factor authentication off"
	}
	s := "two-factor authentication on with " + strings.Join(p.Ordered(), ", ")
	if p.RememberDays > 0 {
		s += fmt.Sprintf("; remember me for %d days", p.RememberDays)
	} else {
		s += "; remember me off"
	}
	if p.RecoveryCodesOff {
		s += "; recovery codes off"
	}
	return s + p.Rollout.summary()
}

func proposalKey(realm, id string) store.Key {
	return store.Key{Bucket: "proposals/" + realm, ID: id}
}

// Propose stores a proposal to change the realm's policy from version base.
func Propose(ctx context.Context, b store.Backend, realm, admin string, base int64, next Policy, now time.Time) (*Proposal, error) {
	id := make([]byte, 16)
	rand.Read(id)
	p := &Proposal{
		ID: base64.RawURLEncoding.EncodeToString(id), Realm: realm, Admin: admin,
		Base: base, Next: next, Hash: next.Hash(), Created: now.UTC(),
	}
	if err := store.PutJSON(ctx, b, proposalKey(realm, p.ID), p, ProposalLifetime); err != nil {
		return nil, err
	}
	return p, nil
}

// ErrNoProposal: unknown, expired, already applied, or another admin's.
var ErrNoProposal = errors.New("this change request has expired or was already used; start again")

// LoadProposal reads a pending proposal of the admin.
func LoadProposal(ctx context.Context, b store.Backend, realm, admin, id string) (*Proposal, error) {
	p := new(Proposal)
	if err := store.GetJSON(ctx, b, proposalKey(realm, id), p); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoProposal
		}
		return nil, err
	}
	if p.Admin != admin || p.Hash != p.Next.Hash() {
		return nil, ErrNoProposal
	}
	return p, nil
}

// Cancel ends a proposal before its code is used (too many wrong codes).
func Cancel(ctx context.Context, b store.Backend, realm, id string) error {
	if err := b.Delete(ctx, proposalKey(realm, id)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Apply consumes the proposal (once, whoever races) and stores its policy
// if the stored version is still the one it was based on; configured is as
// for Replace.
func Apply(ctx context.Context, b store.Backend, p *Proposal, now time.Time, configured Policy) (Policy, error) {
	if _, err := b.Take(ctx, proposalKey(p.Realm, p.ID)); errors.Is(err, store.ErrNotFound) {
		return Policy{}, ErrNoProposal
	} else if err != nil {
		return Policy{}, err
	}
	next := p.Next
	next.ChangedBy = p.Admin
	next.ChangedAt = now.UTC()
	return Replace(ctx, b, p.Realm, p.Base, next, configured)
}
