package e2e

import (
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

// Email through Caddy while SES throttles or fails: a fault-injecting proxy
// sits between Caddy and the SES emulator and refuses requests on command.

const faultCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		store file {DIR}/2fa.db
		email ses {
			region us-east-1
			from "Acme Security <security@acme.example>"
			endpoint {SES}
		}
		{GLOBAL}
		realm default {
			issuer "Acme Corp"
			{POLICY}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		site_url http://127.0.0.1:{PORT}
		{USERS}
	}
	reverse_proxy {APP}
}
`

// sesAttemptsPerMessage is notify's budget for one email: a first try and
// four retries, throttling and transient failures alike.
const sesAttemptsPerMessage = 5

type faultRig struct {
	ses   *testpeer.SESPeer
	proxy *testpeer.FaultProxy
	cp    *caddyProc
	dir   string
}

// emailCodes is the realm policy of the code tests: 2FA on, by email.
const emailCodes = "policy {\n enforce\n methods email\n }"

// startFaultRig runs Caddy with email through the proxy, with policy (""
// for 2FA off) and, when knownUsers > 0, a users file of that many users.
func startFaultRig(t *testing.T, app *demoApp, policy string, knownUsers int) *faultRig {
	t.Helper()
	return startFaultRigWith(t, app, policy, knownUsers, "")
}

// startFaultRigWith is startFaultRig with more global options.
func startFaultRigWith(t *testing.T, app *demoApp, policy string, knownUsers int, global string) *faultRig {
	t.Helper()
	rig := &faultRig{ses: testpeer.SES(t), dir: t.TempDir()}
	rig.proxy = testpeer.NewFaultProxy(t, rig.ses.Endpoint())
	users := ""
	if knownUsers > 0 {
		writeUsersCSV(t, rig.dir, knownUsers)
		users = "users_file {DIR}/users.csv"
	}
	cf := strings.NewReplacer("{SES}", rig.proxy.URL(), "{POLICY}", policy, "{USERS}", users, "{GLOBAL}", global).Replace(withApp(faultCaddyfile, app))
	rig.cp = startCaddy(t, rig.dir, cf, testpeer.FakeAWSEnv()...)
	return rig
}

// emailsTo counts the emails the emulator accepted for addr whose subject
// holds subject.
func (rig *faultRig) emailsTo(addr, subject string) int {
	n := 0
	for _, e := range rig.ses.Emails() {
		if strings.Contains(e.Subject, subject) && strings.Contains(strings.Join(e.To, ","), addr) {
			n++
		}
	}
	return n
}

// faultUsers are app accounts that each meet one fault with a fresh send
// allowance.
func faultUsers(ids ...string) []legacyapp.User {
	users := make([]legacyapp.User, 0, len(ids))
	for _, id := range ids {
		users = append(users, legacyapp.User{ID: id, Password: id + "-pw", Name: id, Email: id + "@acme.example"})
	}
	return users
}

// patientClient is user at the enrollment the gate sent them to after
// signing in for /reports. It waits as long as a send may take: the SDK's
// backoff on a throttled message can reach seconds.
func patientClient(t *testing.T, base, user string) *client {
	c := newClient(t, base)
	c.http.Timeout = time.Minute
	c.login(user, user+"-pw", "/reports")
	if _, at := c.follow("/reports"); at != "/.2fa/enroll/email" && at != "/.2fa/enroll" {
		t.Fatalf("%s's first sign-in: want enrollment, at %s", user, at)
	}
	return c
}

var faultKinds = []struct {
	name  string
	fault testpeer.Fault
	// throttle: the SDK waits a second-based backoff (jittered), so the
	// retries are measurably apart.
	throttle bool
}{
	{"429 TooManyRequestsException", testpeer.SESTooManyRequests, true},
	{"400 ThrottlingException", testpeer.SESThrottling, true},
	{"500 InternalFailure", testpeer.SESInternalFailure, false},
	{"503 ServiceUnavailable", testpeer.SESServiceUnavailable, false},
}

func TestCodeEmailSurvivesAShortSESFaultAndArrivesOnce(t *testing.T) {
	var ids []string
	for i := range faultKinds {
		ids = append(ids, fmt.Sprintf("short%d", i))
	}
	app := startDemoAppWith(t, legacyapp.Options{Users: faultUsers(ids...)}, nil)
	rig := startFaultRig(t, app, emailCodes, 0)
	for i, kind := range faultKinds {
		t.Run(kind.name, func(t *testing.T) {
			user := ids[i]
			c := patientClient(t, rig.cp.URL, user)
			page, _ := c.follow("/.2fa/enroll/email")
			seen := len(rig.proxy.Requests())
			refused, passed := rig.proxy.Refused(), rig.proxy.Passed()
			rig.proxy.FailNext(sesAttemptsPerMessage-1, kind.fault)
			start := time.Now()
			r := c.press(page, "/.2fa/enroll/email")
			took := time.Since(start)
			if r.status != http.StatusSeeOther {
				t.Fatalf("send during a fault of %d failures: %d %s", sesAttemptsPerMessage-1, r.status, r.body)
			}
			if got := rig.proxy.Refused() - refused; got != sesAttemptsPerMessage-1 {
				t.Errorf("the proxy refused %d attempts, want %d", got, sesAttemptsPerMessage-1)
			}
			if got := rig.proxy.Passed() - passed; got != 1 {
				t.Errorf("%d attempts reached SES, want exactly 1", got)
			}
			if n := rig.emailsTo(user+"@acme.example", "verification code"); n != 1 {
				t.Fatalf("SES accepted %d code emails for %s, want 1", n, user)
			}
			gaps := retryGaps(rig.proxy.Requests()[seen:])
			var waited time.Duration
			for _, g := range gaps {
				waited += g
			}
			t.Logf("sent after %d refusals in %v; gaps between attempts %v", sesAttemptsPerMessage-1, took.Round(time.Millisecond), gaps)
			// Full jitter can make one gap tiny, never all four: under
			// 20ms in total has odds below one in a million.
			if kind.throttle && waited < 20*time.Millisecond {
				t.Errorf("throttled attempts came %v apart in total: no backoff", waited)
			}
			page, _ = c.follow("/.2fa/enroll/email")
			if !strings.Contains(page.body, `id="sent-to"`) {
				t.Fatalf("the page does not say the code was sent:\n%s", page.body)
			}
			code := rig.lastCode(t, user+"@acme.example")
			if r := c.savedRecoveryCodes(c.submitCode(page, code)); r.status != http.StatusSeeOther || r.location != "/reports" {
				t.Fatalf("the code that arrived does not enroll: %d %q", r.status, r.location)
			}
		})
	}
}

func retryGaps(reqs []testpeer.ProxiedRequest) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(reqs); i++ {
		gaps = append(gaps, reqs[i].At.Sub(reqs[i-1].At).Round(time.Millisecond))
	}
	return gaps
}

func (rig *faultRig) lastCode(t *testing.T, to string) string {
	t.Helper()
	emails := rig.ses.Emails()
	for i := len(emails) - 1; i >= 0; i-- {
		if strings.Contains(strings.Join(emails[i].To, ","), to) {
			if m := codeIn.FindStringSubmatch(emails[i].Subject); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no code emailed to %s", to)
	return ""
}

func TestLongSESFaultTellsTheUserWhatToDoAndAskingAgainAfterItWorks(t *testing.T) {
	kinds := []struct {
		name  string
		fault testpeer.Fault
	}{
		{"503 ServiceUnavailable", testpeer.SESServiceUnavailable},
		{"429 TooManyRequestsException", testpeer.SESTooManyRequests},
	}
	app := startDemoAppWith(t, legacyapp.Options{Users: faultUsers("long0", "long1")}, nil)
	rig := startFaultRig(t, app, emailCodes, 0)
	const notSent = "We couldn't send the code. Try again in a moment, or use another method."
	for i, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			user := fmt.Sprintf("long%d", i)
			addr := user + "@acme.example"
			c := patientClient(t, rig.cp.URL, user)
			page, _ := c.follow("/.2fa/enroll/email")
			refused, passed := rig.proxy.Refused(), rig.proxy.Passed()
			rig.proxy.FailUntilHealed(kind.fault)
			start := time.Now()
			r := c.press(page, "/.2fa/enroll/email")
			took := time.Since(start)
			t.Logf("the user waited %v for the answer", took.Round(time.Millisecond))
			body := html.UnescapeString(r.body)
			if r.status != http.StatusBadGateway || !strings.Contains(body, notSent) {
				t.Fatalf("send during a long fault: %d, want %d with %q:\n%s", r.status, http.StatusBadGateway, notSent, r.body)
			}
			if strings.Contains(r.body, `id="sent-to"`) || strings.Contains(body, "We sent") {
				t.Errorf("the failure page says a code was sent:\n%s", r.body)
			}
			if got := rig.proxy.Refused() - refused; got != sesAttemptsPerMessage {
				t.Errorf("SES was tried %d times, want the budget of %d", got, sesAttemptsPerMessage)
			}
			if got := rig.proxy.Passed() - passed; got != 0 {
				t.Errorf("%d attempts reached SES during the fault", got)
			}
			if n := rig.emailsTo(addr, ""); n != 0 {
				t.Fatalf("SES holds %d emails for %s during the fault", n, user)
			}
			page, _ = c.follow("/.2fa/enroll/email")
			if strings.Contains(page.body, `id="sent-to"`) || !strings.Contains(page.body, `id="send"`) {
				t.Fatalf("after the failure, the page must offer to send, not claim a code went:\n%s", page.body)
			}

			// The fault clears; asking again at once works (the failed send
			// did not use up the cooldown).
			rig.proxy.Heal()
			if r := c.press(page, "/.2fa/enroll/email"); r.status != http.StatusSeeOther {
				t.Fatalf("send after the fault cleared: %d %s", r.status, r.body)
			}
			if got := rig.proxy.Passed() - passed; got != 1 {
				t.Errorf("%d attempts reached SES after the fault, want 1", got)
			}
			if n := rig.emailsTo(addr, "verification code"); n != 1 {
				t.Fatalf("SES accepted %d code emails for %s, want 1", n, user)
			}
			page, _ = c.follow("/.2fa/enroll/email")
			if r := c.savedRecoveryCodes(c.submitCode(page, rig.lastCode(t, addr))); r.status != http.StatusSeeOther || r.location != "/reports" {
				t.Fatalf("the code sent after the fault does not enroll: %d %q", r.status, r.location)
			}
		})
	}
}

// After an outage every code email still gets the whole budget: the AWS
// SDK's retry quota, shared by all of a client's sends, would otherwise be
// spent by the first few failures and leave later people one attempt.
func TestCodeEmailKeepsItsRetryBudgetAfterALongSESOutage(t *testing.T) {
	const during = 10 // sends in the outage: their retries would empty the SDK's quota
	var ids []string
	for i := range during + 1 {
		ids = append(ids, fmt.Sprintf("outage%02d", i))
	}
	app := startDemoAppWith(t, legacyapp.Options{Users: faultUsers(ids...)}, nil)
	rig := startFaultRig(t, app, emailCodes, 0)
	rig.proxy.FailUntilHealed(testpeer.SESServiceUnavailable)
	for _, user := range ids[:during] {
		c := patientClient(t, rig.cp.URL, user)
		page, _ := c.follow("/.2fa/enroll/email")
		refused := rig.proxy.Refused()
		if r := c.press(page, "/.2fa/enroll/email"); r.status != http.StatusBadGateway {
			t.Fatalf("%s's send during the outage: %d, want %d", user, r.status, http.StatusBadGateway)
		}
		if got := rig.proxy.Refused() - refused; got != sesAttemptsPerMessage {
			t.Errorf("%s's code was tried %d times during the outage, want the budget of %d", user, got, sesAttemptsPerMessage)
		}
	}

	// SES is back but still refuses a few: the next person's code must
	// get through on its retries.
	user := ids[during]
	c := patientClient(t, rig.cp.URL, user)
	page, _ := c.follow("/.2fa/enroll/email")
	rig.proxy.FailNext(sesAttemptsPerMessage-1, testpeer.SESServiceUnavailable)
	if r := c.press(page, "/.2fa/enroll/email"); r.status != http.StatusSeeOther {
		t.Fatalf("a short fault after the outage: %d %s", r.status, r.body)
	}
	if n := rig.emailsTo(user+"@acme.example", "verification code"); n != 1 {
		t.Fatalf("SES accepted %d code emails for %s, want 1", n, user)
	}
}

const queueUsers = 30

// writeUsersCSV writes the users file Caddy imports: n users, user01 to
// userNN.
func writeUsersCSV(t *testing.T, dir string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,email,name\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "user%02d,user%02d@acme.example,User %02d\n", i, i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// firstFailures counts the queue's log lines of a message failing its
// first attempt.
func firstFailures(logs string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "send failed; will retry") && strings.Contains(line, `"attempt":1,`) {
			n++
		}
	}
	return n
}

func TestSetupMailQueueKeepsItsBacklogThroughAnSESOutageAndSendsEachOnce(t *testing.T) {
	// A first retry after 5s, not 30s: the backlog drains soon after the
	// outage, as it would after the default backoff, only sooner.
	rig := startFaultRigWith(t, startDemoApp(t), "", queueUsers, "mail_queue {\n backoff 5s\n }")
	pollUntil(t, 30*time.Second, "the users file imported", func() (bool, string) {
		_, out := adminReq(t, rig.cp, "GET", "/twofactor/users?limit=100", "")
		users, _ := out["users"].([]any)
		return len(users) == queueUsers, fmt.Sprintf("%d users", len(users))
	})

	rig.proxy.FailUntilHealed(testpeer.SESServiceUnavailable)
	start := time.Now()
	if status, out := adminReq(t, rig.cp, "PUT", "/twofactor/policy", `{"enabled":true,"methods":["totp","email"]}`); status != http.StatusOK {
		t.Fatalf("enable 2FA: %d %v", status, out)
	}
	// Every message is tried and fails once; the queue keeps them all.
	pollUntil(t, 2*time.Minute, "every setup email tried during the outage", func() (bool, string) {
		n := firstFailures(rig.cp.logs.String())
		return n == queueUsers, fmt.Sprintf("%d first failures, %d refused requests", n, rig.proxy.Refused())
	})
	outage := time.Since(start)
	if n := rig.emailsTo("@acme.example", ""); n != 0 {
		t.Fatalf("SES holds %d emails during the outage", n)
	}
	if logs := rig.cp.logs.String(); strings.Contains(logs, "giving up") {
		t.Fatalf("the queue gave up on a message during a short outage:\n%s", logs)
	}
	refusedDuringOutage := rig.proxy.Refused()
	if refusedDuringOutage < queueUsers*sesAttemptsPerMessage {
		t.Errorf("SES was tried %d times for %d messages, want each message's budget of %d", refusedDuringOutage, queueUsers, sesAttemptsPerMessage)
	}

	rig.proxy.Heal()
	healed := time.Now()
	pollUntil(t, 3*time.Minute, "the backlog drained after the outage", func() (bool, string) {
		n := rig.emailsTo("@acme.example", "requires two-factor")
		return n >= queueUsers, fmt.Sprintf("%d of %d setup emails", n, queueUsers)
	})
	drained := time.Since(healed)
	rig.cp.stop() // a send under way finishes first; none can follow
	for i := 1; i <= queueUsers; i++ {
		addr := fmt.Sprintf("user%02d@acme.example", i)
		if n := rig.emailsTo(addr, "requires two-factor"); n != 1 {
			t.Errorf("%s got %d setup emails, want exactly 1", addr, n)
		}
	}
	if all, passed := len(rig.ses.Emails()), rig.proxy.Passed(); all != queueUsers || passed != queueUsers {
		t.Errorf("SES accepted %d emails from %d forwarded requests, want %d of each", all, passed, queueUsers)
	}
	t.Logf("%d setup emails: all failed once within %v of enabling (%d requests refused), then all sent within %v of the outage's end",
		queueUsers, outage.Round(time.Millisecond), refusedDuringOutage, drained.Round(time.Millisecond))
}
