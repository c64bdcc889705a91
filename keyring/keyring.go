// Package keyring turns the operator's secrets into the keys caddy2fa uses:
// cookie signing and encryption (gorilla/securecookie), sealing TOTP seeds at
// rest (AES-GCM), and keyed hashes of codes and app sessions (HMAC-SHA256).
//
// The operator configures a list of secrets. The first one signs, encrypts
// and seals everything new; every one of them still opens what it made, so
// a new secret can be put first and an old one dropped later (rotation).
// Each purpose gets its own key, derived from the secret with HKDF.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/gorilla/securecookie"
)

// MinSecretBytes is the shortest secret accepted.
const MinSecretBytes = 32

// Ring holds the derived keys of every configured secret, primary first.
type Ring struct {
	keys   []derived
	codecs []securecookie.Codec
}

type derived struct {
	id          [4]byte // names the secret in sealed data, without revealing it
	cookieHash  []byte
	cookieBlock []byte
	seal        cipher.AEAD
	mac         []byte
	more        []byte // what Seeds derives from
}

// Generate returns a new random secret in the text form Parse reads.
func Generate() string {
	b := make([]byte, MinSecretBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Parse reads secrets separated by spaces or commas. Each is base64
// (standard or URL alphabet, padded or not) or hex, of at least 32 bytes.
// Errors never repeat the secret.
func Parse(text string) (*Ring, error) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	if len(fields) == 0 {
		return nil, errors.New("no keys given")
	}
	secrets := make([][]byte, 0, len(fields))
	for i, f := range fields {
		s, err := decodeSecret(f)
		if err != nil {
			return nil, fmt.Errorf("key %d of %d: %w", i+1, len(fields), err)
		}
		secrets = append(secrets, s)
	}
	return New(secrets...)
}

func decodeSecret(f string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(f); err == nil && len(b) >= MinSecretBytes {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(f); err == nil && len(b) >= MinSecretBytes {
		return b, nil
	}
	return nil, fmt.Errorf("not base64 or hex of at least %d bytes (generate one with: head -c 32 /dev/urandom | base64)", MinSecretBytes)
}

// New builds a ring from raw secrets, primary first.
func New(secrets ...[]byte) (*Ring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no keys given")
	}
	r := &Ring{}
	for _, s := range secrets {
		if len(s) < MinSecretBytes {
			return nil, fmt.Errorf("a key is shorter than %d bytes", MinSecretBytes)
		}
		d := derived{
			cookieHash:  derive(s, "cookie-hmac-sha256", 32),
			cookieBlock: derive(s, "cookie-aes-256", 32),
			mac:         derive(s, "code-hmac-sha256", 32),
			more:        derive(s, "more-keys", 32),
		}
		copy(d.id[:], derive(s, "key-id", 4))
		block, err := aes.NewCipher(derive(s, "seal-aes-256-gcm", 32))
		if err != nil {
			return nil, err
		}
		if d.seal, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
		codec := securecookie.New(d.cookieHash, d.cookieBlock)
		// Expiry is checked inside our own values; JSON keeps them small.
		codec.MaxAge(0)
		codec.SetSerializer(securecookie.JSONEncoder{})
		r.keys = append(r.keys, d)
		r.codecs = append(r.codecs, codec)
	}
	return r, nil
}

func derive(secret []byte, purpose string, n int) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "caddy2fa "+purpose, n)
	if err != nil {
		panic(err) // only for n beyond HKDF's limit, which we never ask
	}
	return k
}

// EncodeCookie signs and encrypts v for the named cookie with the primary key.
func (r *Ring) EncodeCookie(name string, v any) (string, error) {
	return securecookie.EncodeMulti(name, v, r.codecs[:1]...)
}

// DecodeCookie opens a cookie value made by any key of the ring.
func (r *Ring) DecodeCookie(name, value string, v any) error {
	return securecookie.DecodeMulti(name, value, v, r.codecs...)
}

// Seal encrypts plaintext with the primary key, binding it to aad.
func (r *Ring) Seal(plaintext, aad []byte) []byte {
	k := r.keys[0]
	out := make([]byte, 0, len(k.id)+k.seal.NonceSize()+len(plaintext)+k.seal.Overhead())
	out = append(out, k.id[:]...)
	nonce := make([]byte, k.seal.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return k.seal.Seal(out, nonce, plaintext, aad)
}

// ErrUnknownKey: sealed data whose key is no longer configured.
var ErrUnknownKey = errors.New("keyring: sealed with a key that is no longer configured")

// Open decrypts what Seal made with any key of the ring.
func (r *Ring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 4 {
		return nil, errors.New("keyring: sealed data too short")
	}
	for _, k := range r.keys {
		if !hmac.Equal(k.id[:], sealed[:4]) {
			continue
		}
		rest := sealed[4:]
		if len(rest) < k.seal.NonceSize() {
			return nil, errors.New("keyring: sealed data too short")
		}
		return k.seal.Open(nil, rest[:k.seal.NonceSize()], rest[k.seal.NonceSize():], aad)
	}
	return nil, ErrUnknownKey
}

// MAC is a keyed hash of the parts with the primary key, for values that
// are stored or compared but must not be kept in clear (codes, app
// session tokens). Parts are length-prefixed so they cannot run together.
func (r *Ring) MAC(purpose string, parts ...string) []byte {
	return mac(r.keys[0].mac, purpose, parts)
}

// MACs is the keyed hash of the parts with every key of the ring, primary
// first, for callers that keep only part of a MAC.
func (r *Ring) MACs(purpose string, parts ...string) [][]byte {
	out := make([][]byte, len(r.keys))
	for i, k := range r.keys {
		out[i] = mac(k.mac, purpose, parts)
	}
	return out
}

// VerifyMAC checks a MAC made by any key of the ring, in constant time.
func (r *Ring) VerifyMAC(sum []byte, purpose string, parts ...string) bool {
	ok := false
	for _, k := range r.keys {
		if hmac.Equal(sum, mac(k.mac, purpose, parts)) {
			ok = true
		}
	}
	return ok
}

func mac(key []byte, purpose string, parts []string) []byte {
	h := hmac.New(sha256.New, key)
	writePart(h, purpose)
	for _, p := range parts {
		writePart(h, p)
	}
	return h.Sum(nil)
}

func writePart(h interface{ Write([]byte) (int, error) }, s string) {
	var n [4]byte
	l := len(s)
	n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
	h.Write(n[:])
	h.Write([]byte(s))
}

// Seeds derives n bytes for purpose from every secret of the ring,
// primary first: key material of other kinds (signing keys) that rotates
// with the ring.
func (r *Ring) Seeds(purpose string, n int) [][]byte {
	out := make([][]byte, len(r.keys))
	for i, k := range r.keys {
		out[i] = derive(k.more, purpose, n)
	}
	return out
}

// Len is the number of configured secrets.
func (r *Ring) Len() int { return len(r.keys) }
