package e2e

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

// Email and SMS codes through Caddy, delivered by the SES v2 and SNS
// emulators (real servers speaking the AWS APIs, on 127.0.0.1).

const deliveryCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
		email ses {
			region us-east-1
			from "Acme Security <security@acme.example>"
			endpoint {SES}
		}
		sms sns {
			region us-east-1
			sender_id ACME
			endpoint {SNS}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		policy {
			enforce
			methods totp email sms
		}
		issuer "Acme Corp"
		limits {
			email_cooldown 1s
			sms_cooldown 1s
		}
	}
	reverse_proxy {APP}
}
`

var codeIn = regexp.MustCompile(`\b(\d{6})\b`)

type deliveryRig struct {
	app *demoApp
	ses *testpeer.SESPeer
	sns *testpeer.SNSPeer
	cp  *caddyProc
}

func startDeliveryRig(t *testing.T) *deliveryRig {
	rig := &deliveryRig{app: startDemoApp(t), ses: testpeer.SES(t), sns: testpeer.SNS(t)}
	cf := strings.NewReplacer("{SES}", rig.ses.Endpoint(), "{SNS}", rig.sns.Endpoint()).Replace(withApp(deliveryCaddyfile, rig.app))
	rig.cp = startCaddy(t, t.TempDir(), cf, testpeer.FakeAWSEnv()...)
	return rig
}

func (rig *deliveryRig) lastEmailCode(t *testing.T, to string) string {
	t.Helper()
	emails := rig.ses.Emails()
	for i := len(emails) - 1; i >= 0; i-- {
		for _, addr := range emails[i].To {
			if strings.Contains(addr, to) {
				if m := codeIn.FindStringSubmatch(emails[i].Subject); m != nil {
					return m[1]
				}
			}
		}
	}
	t.Fatalf("no code emailed to %s (emulator has %d emails)", to, len(emails))
	return ""
}

func (rig *deliveryRig) lastSMSCode(t *testing.T, to string) string {
	t.Helper()
	msgs := rig.sns.Published()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].PhoneNumber == to {
			if m := codeIn.FindStringSubmatch(msgs[i].Message); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no code texted to %s (emulator has %d messages)", to, len(msgs))
	return ""
}

// press posts a page's "Send code" form (action=send), with extra fields.
func (c *client) press(page resp, path string, extra ...string) resp {
	c.t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.body)
	if m == nil {
		c.t.Fatalf("no form on %s:\n%s", path, page.body)
	}
	form := url.Values{"csrf": {m[1]}, "action": {"send"}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return c.do(http.MethodPost, path, form)
}

func TestEmailCodesThroughSESEmulator(t *testing.T) {
	rig := startDeliveryRig(t)
	c := newClient(t, rig.cp.URL)
	c.login("bob", "bob-demo", "/reports")
	page, at := c.follow("/reports")
	if at != "/.2fa/enroll" || !strings.Contains(page.body, "choose-email") || !strings.Contains(page.body, "choose-sms") {
		t.Fatalf("enrollment choice at %s:\n%s", at, page.body)
	}
	page, _ = c.follow("/.2fa/enroll/email")
	if r := c.press(page, "/.2fa/enroll/email"); r.status != http.StatusSeeOther {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	page, _ = c.follow("/.2fa/enroll/email")
	r := c.savedRecoveryCodes(c.submitCode(page, rig.lastEmailCode(t, "bob@acme.example")))
	if r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("email enrollment: %d %q %s", r.status, r.location, r.body)
	}
	// The email carried the code in its subject and said what to do.
	last := rig.ses.Emails()
	var codeMail *testpeer.SESEmail
	for i := range last {
		if strings.Contains(last[i].Subject, "verification code") {
			codeMail = &last[i]
		}
	}
	if codeMail == nil || !strings.Contains(codeMail.Subject, "Acme Corp") || !strings.Contains(codeMail.Text, "someone else may know your password") || !strings.Contains(codeMail.From, "security@acme.example") {
		t.Fatalf("code email: %+v", codeMail)
	}
	// Next login: verify by email.
	c.logout()
	c.login("bob", "bob-demo", "/settings")
	page, at = c.follow("/settings")
	if at != "/.2fa/verify/email" {
		t.Fatalf("want email verification, at %s", at)
	}
	time.Sleep(1100 * time.Millisecond) // the configured send cooldown
	c.press(page, at)
	page, _ = c.follow(at)
	if r := c.submitCode(page, rig.lastEmailCode(t, "bob@acme.example")); r.status != http.StatusSeeOther || r.location != "/settings" {
		t.Fatalf("email verification: %d %q", r.status, r.location)
	}
}

func TestSMSCodesThroughSNSEmulator(t *testing.T) {
	rig := startDeliveryRig(t)
	c := newClient(t, rig.cp.URL)
	c.login("carol", "carol-demo", "/account")
	c.follow("/account")
	page, _ := c.follow("/.2fa/enroll/sms")
	if !strings.Contains(html.UnescapeString(page.body), "+1******0103") {
		t.Fatalf("the number the app knows should be offered:\n%s", page.body)
	}
	if r := c.press(page, "/.2fa/enroll/sms"); r.status != http.StatusSeeOther {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	page, _ = c.follow("/.2fa/enroll/sms")
	if r := c.savedRecoveryCodes(c.submitCode(page, rig.lastSMSCode(t, "+14155550103"))); r.status != http.StatusSeeOther || r.location != "/account" {
		t.Fatalf("SMS enrollment: %d %q %s", r.status, r.location, r.body)
	}
	msgs := rig.sns.Published()
	if msgs[len(msgs)-1].Attributes["AWS.SNS.SMS.SMSType"] != "Transactional" {
		t.Errorf("SMS attributes: %+v", msgs[len(msgs)-1].Attributes)
	}
}

func TestDeliveryOutageGivesClearMessageAndNoAccess(t *testing.T) {
	rig := startDeliveryRig(t)
	c := newClient(t, rig.cp.URL)
	c.login("bob", "bob-demo", "/")
	c.follow("/")
	page, _ := c.follow("/.2fa/enroll/email")
	before := rig.app.hits.Load()
	rig.ses.Stop()
	r := c.press(page, "/.2fa/enroll/email")
	if r.status != http.StatusBadGateway || !strings.Contains(html.UnescapeString(r.body), "couldn't send the code") {
		t.Fatalf("SES down: %d %s", r.status, r.body)
	}
	if r := c.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("no access while codes cannot be sent: %d", r.status)
	}
	for _, p := range rig.app.requestsSince(before) {
		if p != "/api/me" {
			t.Fatalf("unverified request reached the app: %s", p)
		}
	}
	if !strings.Contains(rig.cp.logs.String(), "could not send a verification code") {
		t.Error("the operator should see the provider error in the log")
	}
}
