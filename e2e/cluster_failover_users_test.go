package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
)

// The users of the cluster failover tests, each a browser of its own whose
// requests tell the app who sent them and whether the gateway had let
// that user through, and what must hold of them after a failover.

// probeHeader tags each request with its user and whether that user had
// been let through at the time: the app then tells which requests of
// unverified users reached it.
const probeHeader = "X-Test-Probe"

var errGatewayUnavailable = errors.New("503: two-factor service unavailable")

// probeUser is one person at their own browser. Its methods return errors
// instead of failing the test: in the middle of a failover requests fail,
// and only what the gateway confirmed counts.
type probeUser struct {
	browser
	authenticator
	id       string
	verified atomic.Bool
	enrolled bool        // the gateway confirmed an enrollment to the user
	lost     atomic.Bool // and later asked them to set up again
	answers  *answerTally
}

// answerTally counts the gateways' answers to every user.
type answerTally struct{ requests, unavailable atomic.Int64 }

// acceptedCode is a code the gateway took: it must never take it again.
type acceptedCode struct {
	user *probeUser
	code string
	step int64
}

func newProbeUser(id string, answers *answerTally) *probeUser {
	u := &probeUser{id: id, answers: answers}
	u.tag = func(req *http.Request) {
		state := "unverified"
		if u.verified.Load() {
			state = "verified"
		}
		req.Header.Set(probeHeader, u.id+" "+state)
	}
	u.newBrowser()
	return u
}

// newBrowser starts a new browser session, not let through yet.
func (u *probeUser) newBrowser() {
	u.newSession()
	u.verified.Store(false)
}

// do is browser.do, counting the answers and making a 503 an error.
func (u *probeUser) do(base, method, path string, form url.Values) (int, string, string, error) {
	status, to, page, err := u.browser.do(base, method, path, form)
	if err != nil {
		return status, to, page, err
	}
	u.answers.requests.Add(1)
	if status == http.StatusServiceUnavailable {
		u.answers.unavailable.Add(1)
		err = errGatewayUnavailable
	}
	return status, to, page, err
}

// challenge signs in anew through base and follows the gateway to its
// challenge page, returning the page and its path.
func (u *probeUser) challenge(base string) (string, string, error) {
	u.newBrowser()
	status, _, _, err := u.do(base, http.MethodPost, "/login", url.Values{"username": {u.id}, "password": {"pw"}, "next": {"/reports"}})
	if err == nil && status != http.StatusSeeOther {
		err = fmt.Errorf("login answered %d", status)
	}
	if err != nil {
		return "", "", err
	}
	path := "/reports"
	for range 4 {
		status, to, page, err := u.do(base, http.MethodGet, path, nil)
		switch {
		case err != nil:
			return "", "", err
		case status == http.StatusFound || status == http.StatusSeeOther:
			path = to
		case status == http.StatusOK && strings.HasPrefix(path, "/.2fa/"):
			return page, path, nil
		default:
			return "", "", fmt.Errorf("GET %s answered %d before any code", path, status)
		}
	}
	return "", "", errors.New("too many redirects")
}

// post submits a form of page to path and returns the answer's status and
// location.
func (u *probeUser) post(base, path, page string, fields url.Values) (int, string, error) {
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return 0, "", fmt.Errorf("no form on %s", path)
	}
	fields.Set("csrf", m[1])
	status, to, _, err := u.do(base, http.MethodPost, path, fields)
	return status, to, err
}

// signInWithCode does the whole way in through base: a new sign-in, the
// enrollment (or the verification, if the user is enrolled) and the saved
// recovery codes. confirmed is called once the gateway has confirmed an
// enrollment; accepted with every code it took.
func (u *probeUser) signInWithCode(base string, confirmed func(), accepted func(acceptedCode)) error {
	page, at, err := u.challenge(base)
	if err != nil {
		return err
	}
	switch at {
	case "/.2fa/enroll/totp":
		if u.enrolled {
			u.lost.Store(true)
			return errEnrollmentLost
		}
		key := strings.ReplaceAll(htmltest.Text(page, "totp-key"), " ", "")
		u.key = key // the step goes on (see authenticator)
	case "/.2fa/verify/totp":
	default:
		return fmt.Errorf("challenge at %s", at)
	}
	code, step, ok := u.nextCode()
	if !ok {
		return errors.New("no fresh TOTP step yet")
	}
	status, to, err := u.post(base, at, page, url.Values{"code": {code}})
	if err != nil {
		return err
	}
	wantTo := "/reports"
	if at == "/.2fa/enroll/totp" {
		wantTo = "/.2fa/recovery-codes"
	}
	if status != http.StatusSeeOther || to != wantTo {
		return fmt.Errorf("code at %s answered %d %s", at, status, to)
	}
	accepted(acceptedCode{u, code, step})
	if at == "/.2fa/enroll/totp" {
		u.enrolled = true
		confirmed()
		_, _, page, err := u.do(base, http.MethodGet, "/.2fa/recovery-codes", nil)
		if err != nil {
			return err
		}
		if status, to, err = u.post(base, "/.2fa/recovery-codes", page, url.Values{"saved": {"1"}}); err != nil {
			return err
		}
		if status != http.StatusSeeOther || to != "/reports" {
			return fmt.Errorf("saved recovery codes answered %d %s", status, to)
		}
	}
	u.verified.Store(true)
	return nil
}

// checkNoUnverifiedRequestReachedTheApp reads what the app received: a
// user not let through may reach its login page (as a guest), and the
// gateway's who-am-I lookup, nothing else.
func checkNoUnverifiedRequestReachedTheApp(t *testing.T, app *demoApp) {
	t.Helper()
	app.mu.Lock()
	defer app.mu.Unlock()
	leaked := 0
	for _, r := range app.seen {
		probe := r.Header.Get(probeHeader)
		if strings.HasSuffix(probe, " unverified") && r.URL.Path != "/login" && r.URL.Path != "/api/me" {
			leaked++
			t.Errorf("a request of an unverified user reached the app: %s %s (%s)", r.Method, r.URL.Path, probe)
		}
	}
	t.Logf("the app received %d requests, %d of them of an unverified user", len(app.seen), leaked)
}

// checkNoCodeTakenTwice replays every code the gateway took, from a new
// sign-in, while the code is still within the steps the gateway accepts.
func checkNoCodeTakenTwice(t *testing.T, gw []*caddyProc, taken []acceptedCode) {
	t.Helper()
	replayed, again := 0, 0
	for i, c := range taken {
		if c.step < time.Now().Unix()/30-1 {
			continue // too old for the gateway anyway: proves nothing
		}
		var status int
		var to string
		waitUntil(t, "a replay answered", 15*time.Second, func() bool {
			page, at, err := c.user.challenge(gw[i%len(gw)].URL)
			if err == nil && at != "/.2fa/verify/totp" {
				t.Fatalf("%s, enrolled, sent to %s", c.user.id, at)
			}
			if err == nil {
				status, to, err = c.user.post(gw[i%len(gw)].URL, at, page, url.Values{"code": {c.code}})
			}
			if err != nil && !errors.Is(err, errGatewayUnavailable) {
				t.Fatalf("replaying %s's code: %v", c.user.id, err)
			}
			return err == nil
		})
		if status == http.StatusSeeOther && to == "/reports" {
			again++
			t.Errorf("%s's code of step %d was taken twice across the failover", c.user.id, c.step)
		}
		replayed++
	}
	t.Logf("%d of %d taken codes replayed within their steps, %d taken again", replayed, len(taken), again)
	if replayed == 0 {
		t.Error("no taken code could be replayed in time: the check proved nothing")
	}
}

// checkEveryConfirmedEnrollmentStands signs each user whose enrollment was
// confirmed in anew: the gateway must ask for a code, not a new
// enrollment.
func checkEveryConfirmedEnrollmentStands(t *testing.T, gw []*caddyProc, confirmed map[*probeUser]bool) {
	t.Helper()
	lost := 0
	for u := range confirmed {
		var at string
		waitUntil(t, "a sign-in answered", 15*time.Second, func() bool {
			var err error
			_, at, err = u.challenge(gw[0].URL)
			return !errors.Is(err, errGatewayUnavailable)
		})
		if at != "/.2fa/verify/totp" {
			lost++
			t.Errorf("%s's confirmed enrollment is gone: a new sign-in is sent to %q", u.id, at)
		}
	}
	t.Logf("%d confirmed enrollments, %d lost", len(confirmed), lost)
}

// through: let in, or found to have lost their enrollment (which fails
// the test): either way done signing in.
func through(u *probeUser) bool { return u.verified.Load() || u.lost.Load() }

func allUsers(users []*probeUser, ok func(*probeUser) bool) bool {
	for _, u := range users {
		if !ok(u) {
			return false
		}
	}
	return true
}
