// Package passkey is the relying party of passkeys and security keys
// (WebAuthn): the options a browser gets to create or use a credential,
// and the checks of what it sends back, by go-webauthn. It keeps no state:
// the caller stores each ceremony's session, single use, and each user's
// keys.
package passkey

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
)

// Options are the realm's choices; zero values take the defaults noted.
type Options struct {
	// UserVerification: "preferred" (default), "required" or "discouraged".
	UserVerification string
	// Attestation: "none" (default), "indirect", "direct" or "enterprise".
	Attestation string
	// NoSynced refuses keys that can be copied between devices (synced
	// passkeys): only device-bound keys.
	NoSynced bool
	// AAGUIDs, when given, are the only authenticator models accepted.
	AAGUIDs []string
}

// Validate reports an option no browser would take.
func (o Options) Validate() error {
	switch o.UserVerification {
	case "", "preferred", "required", "discouraged":
	default:
		return fmt.Errorf("user_verification must be required, preferred or discouraged, not %q", o.UserVerification)
	}
	switch o.Attestation {
	case "", "none", "indirect", "direct", "enterprise":
	default:
		return fmt.Errorf("attestation must be none, indirect, direct or enterprise, not %q", o.Attestation)
	}
	for _, a := range o.AAGUIDs {
		if _, err := uuid.Parse(a); err != nil {
			return fmt.Errorf("aaguid %q is not a UUID", a)
		}
	}
	return nil
}

// Config is one site's relying party.
type Config struct {
	// SiteURL is the site's address; its host is the RP ID unless RPID is
	// set, and its origin the one origin accepted.
	SiteURL string
	// RPID may widen the RP ID to a parent domain of the site's host, so
	// the sites of one realm on sibling hosts share their users' keys.
	RPID string
	// Related are the origins of the realm's sites on other domains: a
	// site listed here may use RPID though its host is not under it
	// (Related Origin Requests), and the site whose host is RPID serves
	// the list at /.well-known/webauthn for browsers to check.
	Related []string
	// Name is the organisation, as the browser shows it.
	Name    string
	Options Options
}

// RP is a site's relying party.
type RP struct {
	w       *webauthn.WebAuthn
	related http.Handler // nil: this site serves no related-origins list
	uv      protocol.UserVerificationRequirement
	attest  protocol.ConveyancePreference
	timeout time.Duration
}

// CeremonyLifetime bounds how long a ceremony may take.
const CeremonyLifetime = 5 * time.Minute

// New builds a site's relying party, refusing an address a browser would
// not bind keys to.
func New(cfg Config) (*RP, error) {
	if err := cfg.Options.Validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.SiteURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return nil, fmt.Errorf("passkeys need site_url as https://host (got %q)", cfg.SiteURL)
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return nil, fmt.Errorf("passkeys need site_url with a host name: browsers refuse an IP address (%s) as the RP ID", host)
	}
	if u.Scheme == "http" && host != "localhost" {
		return nil, errors.New("passkeys need an https site_url (browsers allow http only for localhost)")
	}
	rpID := strings.ToLower(cfg.RPID)
	if rpID == "" {
		rpID = host
	}
	origin := u.Scheme + "://" + u.Host
	if host != rpID && !strings.HasSuffix(host, "."+rpID) && !slices.Contains(cfg.Related, origin) {
		return nil, fmt.Errorf("passkey rp_id %q must be the site's host %q or a parent domain of it, or list %s in related_origins", rpID, host, origin)
	}
	wcfg := &webauthn.Config{
		RPID: rpID, RPDisplayName: cfg.Name, RPOrigins: []string{origin},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyLifetime, TimeoutUVD: CeremonyLifetime},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyLifetime, TimeoutUVD: CeremonyLifetime},
		},
	}
	if wcfg.RPDisplayName == "" {
		wcfg.RPDisplayName = rpID
	}
	if cfg.Options.NoSynced || len(cfg.Options.AAGUIDs) > 0 {
		f := &webauthn.FilteringConfig{ProhibitBackupEligibility: cfg.Options.NoSynced}
		for _, a := range cfg.Options.AAGUIDs {
			f.PermittedAAGUIDs = append(f.PermittedAAGUIDs, uuid.MustParse(a))
		}
		wcfg.Filtering = f
	}
	w, err := webauthn.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	rp := &RP{w: w, uv: protocol.VerificationPreferred, attest: protocol.PreferNoAttestation, timeout: CeremonyLifetime}
	if host == rpID && len(cfg.Related) > 0 {
		doc, err := protocol.NewRelatedOrigins(append([]string{origin}, cfg.Related...)...)
		if err != nil {
			return nil, fmt.Errorf("passkey related_origins: %w", err)
		}
		rp.related = doc
	}
	if cfg.Options.UserVerification != "" {
		rp.uv = protocol.UserVerificationRequirement(cfg.Options.UserVerification)
	}
	if cfg.Options.Attestation != "" {
		rp.attest = protocol.ConveyancePreference(cfg.Options.Attestation)
	}
	return rp, nil
}

// RelatedOrigins is the /.well-known/webauthn document this site serves
// (at WellKnownPath); nil when it serves none.
func (rp *RP) RelatedOrigins() http.Handler { return rp.related }

// WellKnownPath is where browsers ask an RP ID's site for its related
// origins.
const WellKnownPath = protocol.WellKnownPathWebAuthn

// RPID is the domain keys are bound to.
func (rp *RP) RPID() string { return rp.w.Config.RPID }

// Key is one registered credential of a user.
type Key struct {
	Name       string              `json:"name"`
	Created    time.Time           `json:"created"`
	LastUsed   time.Time           `json:"last_used,omitzero"`
	Credential webauthn.Credential `json:"credential"`
}

// ID names the key in forms: its credential ID, base64url.
func (k Key) ID() string { return protocol.URLEncodedBase64(k.Credential.ID).String() }

// Owner is the user a ceremony is for.
type Owner struct {
	// Handle is the user's 64 random bytes (never the user id).
	Handle      []byte
	Name        string
	DisplayName string
	Keys        []Key
}

// NewHandle draws a user handle.
func NewHandle() []byte {
	h := make([]byte, 64)
	rand.Read(h)
	return h
}

type owner Owner

func (o *owner) WebAuthnID() []byte          { return o.Handle }
func (o *owner) WebAuthnName() string        { return o.Name }
func (o *owner) WebAuthnDisplayName() string { return o.DisplayName }
func (o *owner) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(o.Keys))
	for i, k := range o.Keys {
		out[i] = k.Credential
	}
	return out
}

// Session is a ceremony's state between its options and its answer.
type Session = webauthn.SessionData

// BeginRegistration is the options to create a key (as JSON for the
// page's script), excluding the keys the user has.
func (rp *RP) BeginRegistration(o Owner) (options []byte, s *Session, err error) {
	ow := owner(o)
	rk := false
	creation, s, err := rp.w.BeginRegistration(&ow,
		webauthn.WithExclusions(webauthn.Credentials(ow.WebAuthnCredentials()).CredentialDescriptors()),
		webauthn.WithConveyancePreference(rp.attest),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &rk, ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: rp.uv,
		}))
	if err != nil {
		return nil, nil, err
	}
	options, err = json.Marshal(creation)
	return options, s, err
}

// FinishRegistration checks a browser's new key against the session.
func (rp *RP) FinishRegistration(o Owner, s Session, response []byte) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, err
	}
	ow := owner(o)
	return rp.w.CreateCredential(&ow, s, parsed)
}

// BeginLogin is the options to use one of the user's keys.
func (rp *RP) BeginLogin(o Owner) (options []byte, s *Session, err error) {
	ow := owner(o)
	assertion, s, err := rp.w.BeginLogin(&ow, webauthn.WithUserVerification(rp.uv))
	if err != nil {
		return nil, nil, err
	}
	options, err = json.Marshal(assertion)
	return options, s, err
}

// ErrCloned: the key's signature counter went backwards, so a copy of its
// private key may be in use elsewhere.
var ErrCloned = errors.New("passkey: signature counter went backwards (a cloned authenticator?)")

// FinishLogin checks a browser's assertion against the session and the
// user's keys. It returns the key used, updated (sign count, flags).
func (rp *RP) FinishLogin(o Owner, s Session, response []byte) (Key, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Key{}, err
	}
	ow := owner(o)
	cred, err := rp.w.ValidateLogin(&ow, s, parsed)
	if err != nil {
		return Key{}, err
	}
	if cred.Authenticator.CloneWarning {
		return Key{}, ErrCloned
	}
	for _, k := range o.Keys {
		if bytes.Equal(k.Credential.ID, cred.ID) {
			k.Credential = *cred
			return k, nil
		}
	}
	return Key{}, errors.New("passkey: the key is not the user's")
}

// Newer reports whether used may replace stored: its counter moved on, or
// the authenticator keeps none (both 0). Checked again when the key is
// written, so two assertions racing cannot both move the counter.
func Newer(stored, used Key) bool {
	s, u := stored.Credential.Authenticator.SignCount, used.Credential.Authenticator.SignCount
	return u > s || (u == 0 && s == 0)
}
