// Package softkey is a security key in software, for tests: it answers a
// relying party's options the way a browser and a CTAP2 authenticator
// together do (attestation "none", ES256), so protocol tests need no
// browser. Each answer can be bent (another origin, RP ID or user handle,
// a counter set back) to play an attacker.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Key is one authenticator holding one credential.
type Key struct {
	private *ecdsa.PrivateKey
	ID      []byte
	// Origin is what the "browser" says the page's origin is.
	Origin string
	// RPID overrides the RP ID the authenticator signs for ("": the one
	// in the options).
	RPID string
	// Counter is the signature counter; each assertion adds one first.
	Counter uint32
	// Handle is the user handle stored at registration (sent back in
	// assertions); tests may replace it.
	Handle []byte
	// Synced sets the backup-eligible and backed-up flags (a synced passkey).
	Synced bool
	// NotVerified clears the user-verified flag (a key without PIN or
	// biometrics).
	NotVerified bool
}

// New is a fresh key answering for pages of origin.
func New(origin string) *Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Key{private: k, ID: id, Origin: origin}
}

// Clone is a copy of the key with the same private key and counter: what
// an attacker who extracted it would hold.
func (k *Key) Clone() *Key {
	c := *k
	return &c
}

var b64 = base64.RawURLEncoding

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Register answers creation options (the JSON a relying party sends) with
// the browser's JSON of a new credential.
func (k *Key) Register(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, errors.New("softkey: user.id is not base64url")
	}
	k.Handle = handle
	point, err := k.private.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, // P-256
		XCoord:        point[1:33],
		YCoord:        point[33:],
	})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16, 16+2+len(k.ID)+len(cose)) // AAGUID zero: "none" attestation
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.ID)))
	attested = append(append(attested, k.ID...), cose...)
	authData := k.authData(o.PublicKey.RP.ID, 0x40, attested)
	clientData := k.clientData("webauthn.create", o.PublicKey.Challenge)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response":               map[string]any{"clientDataJSON": b64.EncodeToString(clientData), "attestationObject": b64.EncodeToString(attObj), "transports": []string{"usb"}},
		"clientExtensionResults": map[string]any{},
	})
}

// Assert answers request options with the browser's JSON of an assertion.
func (k *Key) Assert(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	k.Counter++
	authData := k.authData(o.PublicKey.RPID, 0, nil)
	clientData := k.clientData("webauthn.get", o.PublicKey.Challenge)
	sum := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.private, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(clientData), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.Handle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// authData is the authenticator data for rpID (unless k.RPID overrides it)
// with the extra flags and attested credential data given.
func (k *Key) authData(rpID string, flags byte, attested []byte) []byte {
	if k.RPID != "" {
		rpID = k.RPID
	}
	hash := sha256.Sum256([]byte(rpID))
	flags |= 0x01 // user present
	if !k.NotVerified {
		flags |= 0x04
	}
	if k.Synced {
		flags |= 0x08 | 0x10
	}
	out := append(hash[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.Counter)
	return append(out, attested...)
}

func (k *Key) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.Origin, "crossOrigin": false})
	return b
}
