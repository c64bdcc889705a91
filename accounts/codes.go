package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/store"
)

// Codes sent by email or SMS: six digits from crypto/rand, stored only as
// a keyed hash bound to the user, the challenge, the purpose, the method
// and the address they went to; single use; replaced by a resend.

// SentCode is what the store keeps of a sent code: never the code.
type SentCode struct {
	Hash    string    `json:"hash"`
	User    string    `json:"user"`
	Flow    string    `json:"flow"`
	Purpose string    `json:"purpose"`
	Method  string    `json:"method"`
	Target  string    `json:"target"`
	Sent    time.Time `json:"sent"`
}

func (c *SentCode) mac(ring *keyring.Ring, realm, code string) []byte {
	return ring.MAC("otp", realm, c.User, c.Flow, c.Purpose, c.Method, c.Target, code)
}

// NewCode draws a six-digit code.
func NewCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// PutSentCode keeps the hash of code, sent as c says, for lifetime,
// replacing an earlier code of the flow and method.
func PutSentCode(ctx context.Context, b store.Backend, ring *keyring.Ring, realm string, c SentCode, code string, lifetime time.Duration) error {
	c.Hash = base64.RawStdEncoding.EncodeToString(c.mac(ring, realm, code))
	return store.PutJSON(ctx, b, Keys{realm}.Code(c.Flow, c.Method), c, lifetime)
}

// LastSent returns the code last sent for the flow and method, or nil.
func LastSent(ctx context.Context, b store.Backend, realm, flowID, method string) (*SentCode, error) {
	var c SentCode
	err := store.GetJSON(ctx, b, Keys{realm}.Code(flowID, method), &c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// TakeSentCode checks code against the code sent for the flow and method
// to user for purpose and, when it is right, spends it: of concurrent
// right answers exactly one succeeds. It returns where the code went.
// ErrNoCode: no code is outstanding for the challenge (it expired, or none
// was sent); ErrCodeSpent: a concurrent answer took it first. Either way
// the code typed is not accepted.
var (
	ErrNoCode    = errors.New("no code outstanding")
	ErrCodeSpent = errors.New("code already used")
)

func TakeSentCode(ctx context.Context, b store.Backend, ring *keyring.Ring, realm, flowID, user, method, purpose, code string) (target string, ok bool, err error) {
	c, err := LastSent(ctx, b, realm, flowID, method)
	if err != nil {
		return "", false, err
	}
	if c == nil {
		return "", false, ErrNoCode
	}
	want, err := base64.RawStdEncoding.DecodeString(c.Hash)
	if err != nil || c.User != user || c.Flow != flowID || c.Purpose != purpose || c.Method != method {
		return "", false, nil
	}
	if !ring.VerifyMAC(want, "otp", realm, c.User, c.Flow, c.Purpose, c.Method, c.Target, code) {
		return "", false, nil
	}
	if _, err := b.Take(ctx, Keys{realm}.Code(flowID, method)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", false, ErrCodeSpent // spent by a concurrent answer
		}
		return "", false, err
	}
	return c.Target, true, nil
}
