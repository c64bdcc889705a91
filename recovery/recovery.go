// Package recovery makes and checks recovery codes: the single-use codes a
// user keeps on paper for the day their phone is lost. Only keyed hashes
// are ever stored; a code cannot be read back from them.
package recovery

import (
	"crypto/hmac"
	"crypto/rand"
	"math"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/keyring"
)

// Alphabet has no two symbols that look alike in print or handwriting:
// digits 2–9, capitals without I and O, and only the small letters whose
// capitals have another shape. Codes are case-sensitive.
const Alphabet = "23456789" + "ABCDEFGHJKLMNPQRSTUVWXYZ" + "abdefhjmnrt"

// Count codes of Length symbols make a set.
const (
	Count  = 10
	Length = 10
	// RemindAt: with this many codes or fewer left, the user is asked to
	// make a new set.
	RemindAt = 3
)

// Bits is how much a guess must find per code.
var Bits = float64(Length) * math.Log2(float64(len(Alphabet)))

const purpose = "recovery-code"

// Code is one stored code: its keyed hash, and when it was used.
type Code struct {
	Sum  []byte    `json:"sum"`
	Used time.Time `json:"used,omitzero"`
}

// Set is a user's recovery codes.
type Set struct {
	Codes   []Code    `json:"codes"`
	Created time.Time `json:"created"`
}

// Left counts the codes not yet used.
func (s *Set) Left() int {
	n := 0
	for _, c := range s.Codes {
		if c.Used.IsZero() {
			n++
		}
	}
	return n
}

// New draws a set for one user of a realm: the codes to show once, in
// their display form, and the set to store.
func New(ring *keyring.Ring, realm, user string, now time.Time) ([]string, Set) {
	shown := make([]string, Count)
	set := Set{Codes: make([]Code, Count), Created: now.UTC()}
	for i := range shown {
		code := draw()
		shown[i] = Format(code)
		set.Codes[i] = Code{Sum: ring.MAC(purpose, realm, user, code)}
	}
	return shown, set
}

// draw picks Length symbols, each uniformly (rand.Text's way: rejection of
// the bytes past the alphabet's last whole multiple).
func draw() string {
	limit := 256 - 256%len(Alphabet)
	out := make([]byte, 0, Length)
	var buf [32]byte
	for len(out) < Length {
		rand.Read(buf[:])
		for _, b := range buf {
			if int(b) < limit && len(out) < Length {
				out = append(out, Alphabet[int(b)%len(Alphabet)])
			}
		}
	}
	return string(out)
}

// Format shows a code in two groups: "xxxxx-xxxxx".
func Format(code string) string { return code[:Length/2] + "-" + code[Length/2:] }

// Normalize reads a code as people type or paste it: the groups with a
// dash, a space or nothing between them. Anything else is not a code.
func Normalize(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if len(raw) > 2*Length {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case strings.IndexByte(Alphabet, c) >= 0:
			b.WriteByte(c)
		case c == '-' || c == ' ':
		default:
			return "", false
		}
	}
	if b.Len() != Length {
		return "", false
	}
	return b.String(), true
}

// Spend marks the unused code that matches code as used, at now, and
// reports whether there was one. Every stored code is compared with every
// key of the ring, so the time taken says nothing about which matched.
func (s *Set) Spend(ring *keyring.Ring, realm, user, code string, now time.Time) bool {
	sums := ring.MACs(purpose, realm, user, code)
	found := -1
	for i, c := range s.Codes {
		match := false
		for _, sum := range sums {
			if hmac.Equal(c.Sum, sum) {
				match = true
			}
		}
		if match && c.Used.IsZero() && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return false
	}
	s.Codes[found].Used = now.UTC()
	return true
}
