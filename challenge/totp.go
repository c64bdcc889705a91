package challenge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app reads.
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20 // 160 bits, as RFC 4226 recommends
	totpSkew       = 1  // accept the previous and next step for clock drift
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// authenticator makes TOTP keys and accepts their codes, each time step
// once.
type authenticator struct {
	backend store.Backend
	realm   string
	issuer  string
	now     func() time.Time
}

// newKey makes a fresh seed and the otpauth:// key an app imports.
func (a *authenticator) newKey(account string) (seed []byte, key *otp.Key, err error) {
	seed = make([]byte, totpSecretSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, err
	}
	key, err = a.key(seed, account)
	return seed, key, err
}

func (a *authenticator) key(seed []byte, account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer:      a.issuer,
		AccountName: account,
		Period:      totpPeriod,
		Secret:      seed,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
	})
}

// totpMatch returns the time step at which code is valid for the seed,
// within ±totpSkew steps of now.
func totpMatch(seed []byte, code string, now time.Time) (int64, bool) {
	secret := b32.EncodeToString(seed)
	step := now.Unix() / totpPeriod
	found, at := false, int64(0)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			continue
		}
		// Check every step (no early exit) so timing says nothing.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !found {
			found, at = true, step+d
		}
	}
	return at, found
}

var errCodeReused = errors.New("code already used")

// accept checks a code against the seed and, in one atomic update of the
// user's record, spends its time step (so the same code cannot be used
// again anywhere) and applies then, if given. ok is false for a wrong or
// replayed code; u is the updated user.
func (a *authenticator) accept(ctx context.Context, user string, seed []byte, code string, then func(*accounts.User)) (u *accounts.User, ok bool, err error) {
	step, ok := totpMatch(seed, code, a.now())
	if !ok {
		return nil, false, nil
	}
	u, err = accounts.UpdateUser(ctx, a.backend, a.realm, user, func(u *accounts.User) error {
		if step <= u.TOTPStep {
			return errCodeReused
		}
		u.TOTPStep = step
		if then != nil {
			then(u)
		}
		return nil
	})
	switch {
	case errors.Is(err, errCodeReused):
		return nil, false, verify.ErrReplay
	case err != nil:
		return nil, false, err
	}
	return u, true, nil
}

// sealAAD binds a sealed TOTP seed to its realm and user.
func sealAAD(realm, user string) []byte { return []byte(realm + "\x00" + user) }
