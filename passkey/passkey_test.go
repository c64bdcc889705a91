package passkey

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/softkey"
)

const site = "https://app.example.com"

func newRP(t *testing.T, o Options) *RP {
	t.Helper()
	rp, err := New(Config{SiteURL: site, Name: "Acme Corp", Options: o})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// registered is alice with one key registered through rp.
func registered(t *testing.T, rp *RP) (Owner, *softkey.Key) {
	t.Helper()
	alice := Owner{Handle: NewHandle(), Name: "alice@acme.example", DisplayName: "Alice"}
	key := softkey.New(site)
	opts, s, err := rp.BeginRegistration(alice)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := key.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := rp.FinishRegistration(alice, *s, resp)
	if err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	alice.Keys = append(alice.Keys, Key{Name: "YubiKey", Created: time.Now(), Credential: *cred})
	return alice, key
}

func login(t *testing.T, rp *RP, o Owner, key *softkey.Key) (Key, error) {
	t.Helper()
	opts, s, err := rp.BeginLogin(o)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := key.Assert(opts)
	if err != nil {
		t.Fatal(err)
	}
	return rp.FinishLogin(o, *s, resp)
}

func TestRegisteredKeySignsIn(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	used, err := login(t, rp, alice, key)
	if err != nil {
		t.Fatalf("sign-in refused: %v", err)
	}
	if used.Credential.Authenticator.SignCount != 1 || !Newer(alice.Keys[0], used) || used.Name != "YubiKey" {
		t.Fatalf("the key after sign-in: %+v", used)
	}
}

func TestUserHandleIsRandomNeverTheUserID(t *testing.T) {
	a, b := NewHandle(), NewHandle()
	if len(a) != 64 || string(a) == string(b) {
		t.Fatalf("handles: %d bytes, equal: %v", len(a), string(a) == string(b))
	}
	rp := newRP(t, Options{})
	opts, _, err := rp.BeginRegistration(Owner{Handle: a, Name: "alice@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			User struct{ ID, Name string }
		}
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey.User.ID != b64(a) || o.PublicKey.User.Name != "alice@acme.example" {
		t.Fatalf("the options name the user %q with handle %q, want the random handle", o.PublicKey.User.Name, o.PublicKey.User.ID)
	}
}

func TestAlreadyRegisteredKeysAreExcluded(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	opts, _, err := rp.BeginRegistration(alice)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), `"excludeCredentials":[{"type":"public-key","id":"`+b64(key.ID)) {
		t.Fatalf("options do not exclude the registered key: %s", opts)
	}
}

func TestAssertionFromAnotherOriginIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	key.Origin = "https://app.example.com.evil.example"
	if _, err := login(t, rp, alice, key); err == nil {
		t.Fatal("an assertion made on a look-alike origin was accepted")
	}
}

func TestRegistrationFromAnotherOriginIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice := Owner{Handle: NewHandle(), Name: "alice"}
	key := softkey.New("https://evil.example")
	opts, s, _ := rp.BeginRegistration(alice)
	resp, _ := key.Register(opts)
	if _, err := rp.FinishRegistration(alice, *s, resp); err == nil {
		t.Fatal("a key registered from another origin was accepted")
	}
}

func TestAssertionForAnotherRPIDIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	key.RPID = "evil.example"
	if _, err := login(t, rp, alice, key); err == nil {
		t.Fatal("an assertion signed for another RP ID was accepted")
	}
}

func TestReplayedAssertionIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	opts, s, _ := rp.BeginLogin(alice)
	resp, _ := key.Assert(opts)
	used, err := rp.FinishLogin(alice, *s, resp)
	if err != nil {
		t.Fatal(err)
	}
	alice.Keys[0] = used
	// The same bytes again, even with the session kept by a careless
	// caller: the counter has not moved on.
	if _, err := rp.FinishLogin(alice, *s, resp); !errors.Is(err, ErrCloned) {
		t.Fatalf("a replayed assertion: %v, want refused as a clone", err)
	}
}

func TestChallengeOfAnotherUsersCeremonyIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	bob, _ := registered(t, rp)
	_, bobSession, _ := rp.BeginLogin(bob)
	opts, _, _ := rp.BeginLogin(alice)
	resp, _ := key.Assert(opts)
	if _, err := rp.FinishLogin(alice, *bobSession, resp); err == nil {
		t.Fatal("alice's assertion checked against bob's ceremony was accepted")
	}
}

func TestUserHandleOfAnotherUserIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	key.Handle = NewHandle()
	if _, err := login(t, rp, alice, key); err == nil {
		t.Fatal("an assertion carrying another user handle was accepted")
	}
}

func TestExpiredCeremonyIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	opts, s, _ := rp.BeginLogin(alice)
	if d := time.Until(s.Expires); d < CeremonyLifetime-time.Minute || d > CeremonyLifetime {
		t.Fatalf("a ceremony lasts %v, want %v", d, CeremonyLifetime)
	}
	s.Expires = time.Now().Add(-time.Second)
	resp, _ := key.Assert(opts)
	if _, err := rp.FinishLogin(alice, *s, resp); err == nil {
		t.Fatal("an expired ceremony was accepted")
	}
}

func TestClonedAuthenticatorIsRefused(t *testing.T) {
	rp := newRP(t, Options{})
	alice, key := registered(t, rp)
	clone := key.Clone()
	used, err := login(t, rp, alice, key)
	if err != nil {
		t.Fatal(err)
	}
	alice.Keys[0] = used
	// The copy's counter is behind the original's.
	if _, err := login(t, rp, alice, clone); !errors.Is(err, ErrCloned) {
		t.Fatalf("a cloned key (counter set back): %v, want ErrCloned", err)
	}
}

func TestKeysWithoutCounterAreNotTakenForClones(t *testing.T) {
	if !Newer(Key{}, Key{}) {
		t.Fatal("an authenticator that keeps no counter (0 and 0) was taken for a clone")
	}
}

func TestUserVerificationRequiredRefusesAKeyWithoutPIN(t *testing.T) {
	rp := newRP(t, Options{UserVerification: "required"})
	alice, key := registered(t, rp)
	key.NotVerified = true
	if _, err := login(t, rp, alice, key); err == nil {
		t.Fatal("user_verification required, but a key without verification signed in")
	}
}

func TestSyncedPasskeysRefusedWhenNotAllowed(t *testing.T) {
	rp := newRP(t, Options{NoSynced: true})
	alice := Owner{Handle: NewHandle(), Name: "alice"}
	key := softkey.New(site)
	key.Synced = true
	opts, s, _ := rp.BeginRegistration(alice)
	resp, _ := key.Register(opts)
	if _, err := rp.FinishRegistration(alice, *s, resp); err == nil {
		t.Fatal("allow_synced off, but a synced passkey was registered")
	}
}

func TestSiteURLMustBeOneBrowsersBindKeysTo(t *testing.T) {
	for _, bad := range []Config{
		{SiteURL: ""}, {SiteURL: "http://app.example.com"}, {SiteURL: "https://127.0.0.1"},
		{SiteURL: "https://app.example.com", RPID: "other.example"},
		{SiteURL: "https://app.example.com", Options: Options{UserVerification: "always"}},
		{SiteURL: "https://app.example.com", Options: Options{AAGUIDs: []string{"yubikey"}}},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for _, good := range []Config{{SiteURL: "http://localhost:8080"}, {SiteURL: "https://app.example.com", RPID: "example.com"}} {
		if _, err := New(good); err != nil {
			t.Errorf("%+v refused: %v", good, err)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// A realm's site on another domain uses the realm's RP ID only when it is
// listed as a related origin, and the RP ID's own site publishes the list
// browsers check (Related Origin Requests).
func TestRelatedOriginsLetASiteOnAnotherDomainShareTheKeys(t *testing.T) {
	related := []string{"https://partners.example"}
	if _, err := New(Config{SiteURL: "https://partners.example", RPID: "acme.example"}); err == nil {
		t.Fatal("a site on another domain took the RP ID without being a related origin")
	}
	partner, err := New(Config{SiteURL: "https://partners.example", RPID: "acme.example", Related: related})
	if err != nil {
		t.Fatal(err)
	}
	if partner.RPID() != "acme.example" || partner.RelatedOrigins() != nil {
		t.Fatalf("the related site: RP ID %q, serves a document: %v", partner.RPID(), partner.RelatedOrigins() != nil)
	}
	home, err := New(Config{SiteURL: "https://acme.example", RPID: "acme.example", Related: related})
	if err != nil || home.RelatedOrigins() == nil {
		t.Fatalf("the RP ID's site serves no document: %v", err)
	}
	w := httptest.NewRecorder()
	home.RelatedOrigins().ServeHTTP(w, httptest.NewRequest(http.MethodGet, WellKnownPath, nil))
	var doc struct{ Origins []string }
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || !slices.Contains(doc.Origins, "https://partners.example") || !slices.Contains(doc.Origins, "https://acme.example") {
		t.Fatalf("the document: %d %s (%v)", w.Code, w.Body, err)
	}
	// A key registered on the partner site signs in there.
	alice := Owner{Handle: NewHandle(), Name: "alice"}
	key := softkey.New("https://partners.example")
	opts, s, _ := partner.BeginRegistration(alice)
	resp, _ := key.Register(opts)
	cred, err := partner.FinishRegistration(alice, *s, resp)
	if err != nil {
		t.Fatalf("registration on the related site: %v", err)
	}
	alice.Keys = []Key{{Credential: *cred}}
	if _, err := login(t, partner, alice, key); err != nil {
		t.Fatalf("sign-in on the related site: %v", err)
	}
}
