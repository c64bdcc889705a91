package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// What every failover test does: users who sign in, enroll and verify
// through several instances while the store fails over, and counters of
// what the app saw.

// loadCaddyfile is the gateway of the failover and crash tests, on the
// store block store: TOTP enforced for everyone, and lookups and failure
// bounds well above what the tests' users do, so that only the fault under
// test turns a user away.
func loadCaddyfile(store string) string {
	return strings.Replace(`{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		{STORE}
		realm default {
			issuer "Acme Corp"
			policy {
				enforce
				methods totp
			}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
			rate 1000 1000
		}
		limits {
			user_failures 50 15m
			ip_failures 500 10m
		}
	}
	reverse_proxy {APP}
}
`, "{STORE}", store, 1)
}

// haUser is one person at their own browser, with an authenticator app.
type haUser struct {
	browser
	authenticator
	name      string
	confirmed bool        // the gateway confirmed an enrollment to the user
	busy      atomic.Bool // one visit at a time
}

func newHAUser(name string) *haUser { return &haUser{name: name} }

// signIn opens a new app session at the app's own login, through base,
// and follows it to the app's page.
func (u *haUser) signIn(base string) error {
	// A new browser session: the app's old session cookie would make the
	// login a request of a user who has not passed for it.
	u.newSession()
	status, _, _, err := u.do(base, http.MethodPost, "/login", url.Values{"username": {u.name}, "password": {"pw"}, "next": {"/reports"}})
	if err == nil && status != http.StatusSeeOther {
		err = fmt.Errorf("login answered %d", status)
	}
	if err != nil {
		return err
	}
	// The app's page the login leads to: the gateway starts a challenge
	// that returns there.
	_, _, _, err = u.do(base, http.MethodGet, "/reports", nil)
	return err
}

var errNotConfirmed = errors.New("not confirmed")

// errNotEnrolled: the gateway asks a user who enrolled to set up again.
var errNotEnrolled = errors.New("asked to set up again: the enrollment is gone")

// enroll is a first login and TOTP enrollment through base; nil means the
// gateway confirmed the enrollment to the user (the way on after the code).
func (u *haUser) enroll(base string) error {
	if err := u.signIn(base); err != nil {
		return err
	}
	status, _, page, err := u.do(base, http.MethodGet, "/.2fa/enroll/totp", nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("enrollment page: %d %v", status, err)
	}
	key := strings.ReplaceAll(htmltest.Text(page, "totp-key"), " ", "")
	m := csrfField.FindStringSubmatch(page)
	if key == "" || m == nil {
		return errors.New("no enrollment form")
	}
	u.key = key
	status, to, _, err := u.do(base, http.MethodPost, "/.2fa/enroll/totp", url.Values{"csrf": {m[1]}, "code": {u.awaitCode()}})
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther || to != "/.2fa/recovery-codes" {
		return fmt.Errorf("%w: enrollment answered %d %s", errNotConfirmed, status, to)
	}
	u.confirmed = true
	return u.saveRecoveryCodes(base)
}

// errEnrollmentLost: a user the gateway had confirmed an enrollment to is
// asked to set up again.
var errEnrollmentLost = errors.New("a confirmed enrollment is gone: asked to set up again")

// firstSignIn is one try of a person's first sign-in through base, as a
// person makes it: enrollment, or, once the gateway may have taken the code
// (its answer lost, or the recovery codes' page), a sign-in through other
// that asks for the next code. nil means the user is through.
func (u *haUser) firstSignIn(base, other string) error {
	if !u.confirmed {
		err := u.enroll(base)
		if err == nil || u.key == "" || errors.Is(err, errNotConfirmed) {
			return err
		}
	}
	ok, err := u.verify(other, u.awaitCode())
	switch {
	case errors.Is(err, errNotEnrolled) && u.confirmed:
		return errEnrollmentLost
	case ok:
		return nil
	case err == nil:
		return errors.New("code refused")
	}
	return err
}

func (u *haUser) saveRecoveryCodes(base string) error {
	_, _, page, err := u.do(base, http.MethodGet, "/.2fa/recovery-codes", nil)
	if err != nil {
		return err
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return errors.New("no recovery codes form")
	}
	_, _, _, err = u.do(base, http.MethodPost, "/.2fa/recovery-codes", url.Values{"csrf": {m[1]}, "saved": {"1"}})
	return err
}

// verify signs in again through base and enters code; it reports
// whether the gateway let the user on to the app.
func (u *haUser) verify(base, code string) (bool, error) {
	if err := u.signIn(base); err != nil {
		return false, err
	}
	// Where the gateway's entry sends the user, as a browser follows it.
	path, status, page := "/.2fa/", 0, ""
	for range 5 {
		var to string
		var err error
		if status, to, page, err = u.do(base, http.MethodGet, path, nil); err != nil {
			return false, err
		}
		if status != http.StatusSeeOther && status != http.StatusFound {
			break
		}
		path = to
	}
	if strings.HasPrefix(path, "/.2fa/enroll") {
		return false, errNotEnrolled
	}
	if path == "/.2fa/recovery-codes" {
		// An enrollment whose answer was lost: its recovery codes are
		// still to be saved, and the user is through once they are.
		return u.saveRecoveryCodes(base) == nil, nil
	}
	if status != http.StatusOK || path != "/.2fa/verify/totp" {
		return false, fmt.Errorf("verification: %d at %s", status, path)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return false, errors.New("no code form")
	}
	status, to, _, err := u.do(base, http.MethodPost, "/.2fa/verify/totp", url.Values{"csrf": {m[1]}, "code": {code}})
	return err == nil && status == http.StatusSeeOther && to == "/reports", err
}

// tally counts the answers of one kind of traffic.
type tally struct {
	requests, passed, unavailable, challenged, other atomic.Int64
}

func (t *tally) String() string {
	return fmt.Sprintf("%d requests: %d passed, %d challenged, %d unavailable (503), %d other",
		t.requests.Load(), t.passed.Load(), t.challenged.Load(), t.unavailable.Load(), t.other.Load())
}

// loop runs fn until stop closes, on its own goroutine.
func loop(wg *sync.WaitGroup, stop <-chan struct{}, fn func()) {
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			fn()
		}
	})
}
