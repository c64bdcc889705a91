package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// What every failover test does: users who sign in, enroll and verify
// through several instances while the store fails over, and counters of
// what the app saw.

// haUser is one person at their own browser, without a test to fail: in
// the middle of a failover requests fail, and only what was confirmed to
// the user counts.
type haUser struct {
	name string
	key  string // once enrolled
	step int64  // the last TOTP step used
	hc   *http.Client
	busy atomic.Bool // one visit at a time
}

func newHAUser(name string) *haUser {
	jar, _ := cookiejar.New(nil)
	return &haUser{name: name, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (u *haUser) do(base, method, path string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := u.hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return r.StatusCode, r.Header.Get("Location"), string(b), err
}

// signIn opens a new app session at the app's own login, through base,
// and follows it to the app's page.
func (u *haUser) signIn(base string) error {
	// A new browser session: the app's old session cookie would make the
	// login a request of a user who has not passed for it.
	jar, _ := cookiejar.New(nil)
	u.hc.Jar = jar
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

// code is the authenticator's code of the step after the last one used.
func (u *haUser) code() string {
	now := time.Now().Unix() / 30
	for u.step >= now+1 {
		time.Sleep(200 * time.Millisecond)
		now = time.Now().Unix() / 30
	}
	u.step = max(u.step+1, now)
	c, _ := totp.GenerateCodeCustom(u.key, time.Unix(u.step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c
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
	u.key = key // the step goes on: a step once accepted is spent for the user
	status, to, _, err := u.do(base, http.MethodPost, "/.2fa/enroll/totp", url.Values{"csrf": {m[1]}, "code": {u.code()}})
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther || to != "/.2fa/recovery-codes" {
		return fmt.Errorf("%w: enrollment answered %d %s", errNotConfirmed, status, to)
	}
	return u.saveRecoveryCodes(base)
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
