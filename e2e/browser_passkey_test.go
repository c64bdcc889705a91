package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Passkeys in the browser: Chromium's virtual authenticators (the DevTools
// WebAuthn domain) play the user's laptop and security keys. WebAuthn
// needs a secure context and a domain as RP ID, so these journeys use
// http://localhost (Caddy still listens on 127.0.0.1 only).

const passkeyPolicy = "enforce\n\t\t\t\tmethods webauthn totp"

// addAuthenticator gives the user's browser profile a platform
// authenticator with user verification, as a laptop with a fingerprint
// reader has.
func (u *browserUser) addAuthenticator() webauthn.AuthenticatorID {
	u.t.Helper()
	var id webauthn.AuthenticatorID
	u.do("adding a virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		id = res.AuthenticatorID
		return err
	}))
	return id
}

func (u *browserUser) removeAuthenticator(id webauthn.AuthenticatorID) {
	u.t.Helper()
	u.do("removing a virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id})
		return err
	}))
}

// credentials are the keys an authenticator holds, private keys included.
func (u *browserUser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	u.t.Helper()
	return run(u, "reading the authenticator's keys", func(ctx context.Context, _ *chromedp.Target) ([]*webauthn.Credential, error) {
		res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return res.Credentials, err
	})
}

// cloneInto copies a key into another authenticator with its counter set
// back to 0: what someone who extracted the private key would hold.
func (u *browserUser) cloneInto(id webauthn.AuthenticatorID, c *webauthn.Credential) {
	u.t.Helper()
	clone := plainCredential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
		PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: 0}
	// cdproto's own Credential always sends the CMTG fields, which
	// Chromium refuses for authenticators without that extension.
	addCredential := cdp.Command[plainAddCredential, cdp.Empty]{Method: webauthn.CommandAddCredential}
	u.do("copying a key into another authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, addCredential, plainAddCredential{AuthenticatorID: id, Credential: clone})
		return err
	}))
}

// plainCredential is WebAuthn.addCredential's credential without the
// extensions' fields.
type plainCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}

type plainAddCredential struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      plainCredential          `json:"credential"`
}

// saveRecoveryCodes passes the page that shows a first enrollment's codes,
// as a user who saved them.
func (u *browserUser) saveRecoveryCodes() []string {
	u.t.Helper()
	u.wantPage("/.2fa/recovery-codes")
	codes := strings.Fields(u.text("#recovery-codes"))
	if len(codes) != 10 {
		u.t.Fatalf("the recovery codes page shows %d codes: %q", len(codes), codes)
	}
	// Our script adds Print and Copy beside Download; without it, they
	// stay hidden.
	shown := run(u, "looking for the print button", chromedp.Evaluate[bool](`!document.getElementById("print-codes").hidden`))
	if shown == u.scriptsOff {
		u.t.Fatalf("the print button is shown: %v, with scripts off: %v", shown, u.scriptsOff)
	}
	u.setChecked("saved", true)
	u.press("#continue")
	return codes
}

// createPasskey names and creates a passkey on the enrollment page.
func (u *browserUser) createPasskey(name string) {
	u.t.Helper()
	u.wantPage("/.2fa/enroll/webauthn")
	u.do("naming the passkey", chromedp.SetValue(chromedp.ID("name"), name))
	u.press("#passkey-start")
}

func TestBrowserPasskeyEnrollsSignsInAndRefusesAClone(t *testing.T) {
	rig := startBrowserRig(t, "passkey", rigConfig{policy: passkeyPolicy, localhost: true})
	alice := rig.newUser("alice")
	laptop := alice.addAuthenticator()

	alice.open("/reports")
	alice.typeInto("username", "alice")
	alice.typeInto("password", "alice-demo")
	submitted, checkingBefore := time.Now(), alice.checking
	alice.press(appLoginButton)
	alice.wantPage("/.2fa/enroll")
	alice.press("#choose-webauthn")
	alice.createPasskey("Laptop")
	alice.saveRecoveryCodes()
	alice.wantApp("/reports")
	took := time.Since(submitted) - (alice.checking - checkingBefore)
	t.Logf("a scripted first-time passkey enrollment took %v from submitting the app's login to the app page, recovery codes included (not counting %v of axe and screenshots)",
		took.Round(time.Millisecond), (alice.checking - checkingBefore).Round(time.Millisecond))

	// A new app session signs in with the passkey.
	alice.logout()
	alice.login("alice-demo", "/settings")
	alice.wantPage("/.2fa/verify/webauthn")
	alice.press("#passkey-start")
	alice.wantApp("/settings")

	// A second key: a security key, named, listed beside the first.
	alice.removeAuthenticator(laptop)
	yubikey := alice.addAuthenticator()
	alice.open("/.2fa/methods")
	alice.press("#add-passkey")
	alice.createPasskey("YubiKey")
	alice.wantApp("/")
	alice.open("/.2fa/methods")
	alice.wantText("#passkeys", "Laptop")
	alice.wantText("#passkeys", "YubiKey")
	// The lost laptop's key goes.
	alice.press(`button[aria-label="Remove Laptop"]`)
	alice.wantPage("/.2fa/methods")
	if list := alice.text("#passkeys"); strings.Contains(list, "Laptop") || !strings.Contains(list, "YubiKey") {
		t.Fatalf("after removing the laptop's key the list says %q", list)
	}

	// The security key signs in, which moves its counter on.
	alice.logout()
	alice.login("alice-demo", "/reports")
	alice.press("#passkey-start")
	alice.wantApp("/reports")

	// A copy of it with its counter set back is refused.
	keys := alice.credentials(yubikey)
	if len(keys) != 1 {
		t.Fatalf("the security key holds %d keys", len(keys))
	}
	alice.removeAuthenticator(yubikey)
	clone := alice.addAuthenticator()
	alice.cloneInto(clone, keys[0])
	alice.logout()
	alice.login("alice-demo", "/reports")
	alice.wantPage("/.2fa/verify/webauthn")
	if resp := alice.press("#passkey-start"); resp.Status != 422 {
		t.Fatalf("a cloned key: status %d, want 422", resp.Status)
	}
	alice.wantText("#passkey-error", "wasn't accepted")
}

func TestBrowserRecoveryCodeAfterALostPhone(t *testing.T) {
	rig := startBrowserRig(t, "recovery", rigConfig{policy: everyMethod})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.press("#choose-totp")
	key := bob.totpKey()
	bob.enterCode(rig.totpCode("bob", key))
	codes := bob.saveRecoveryCodes()
	bob.wantApp("/reports")

	// The phone is lost: a recovery code instead, then a new authenticator.
	bob.logout()
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/verify/totp")
	bob.press("#other-recovery")
	bob.typeInto("code", codes[3])
	bob.press("form:has(#code) button[type=submit]")
	bob.wantText("#codes-left", "9")
	bob.press("#continue")
	bob.wantApp("/reports")
	bob.open("/.2fa/enroll/totp")
	newKey := bob.totpKey()
	if newKey == key {
		t.Fatal("the new authenticator got the lost phone's key")
	}
	bob.enterCode(rig.totpCode("bob", newKey))
	bob.wantApp("/")
	// The same recovery code does not work twice.
	bob.logout()
	bob.login("bob-demo", "/reports")
	bob.press("#other-recovery")
	bob.typeInto("code", codes[3])
	if resp := bob.press("form:has(#code) button[type=submit]"); resp.Status != 422 {
		t.Fatalf("a used recovery code: status %d, want 422", resp.Status)
	}
}
