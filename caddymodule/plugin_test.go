package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/notify"
)

// exampleSMS is a third party's SMS provider, as the README shows one: a
// module of its own in twofactor.senders.sms.
type exampleSMS struct {
	From string `json:"from,omitempty"`
}

var exampleSent = struct {
	sync.Mutex
	texts []notify.SMS
}{}

func init() { caddy.RegisterModule(new(exampleSMS)) }

func (*exampleSMS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "twofactor.senders.sms.example", New: func() caddy.Module { return new(exampleSMS) }}
}

func (s *exampleSMS) SendSMS(_ context.Context, m notify.SMS) error {
	exampleSent.Lock()
	defer exampleSent.Unlock()
	exampleSent.texts = append(exampleSent.texts, m)
	return nil
}

func (s *exampleSMS) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // example
	for d.NextBlock(0) {
		if d.Val() == "from" && !d.Args(&s.From) {
			return d.ArgErr()
		}
	}
	return nil
}

// A provider of another plugin is configured as the built-in ones are, and
// sends the codes, within the same caps.
func TestThirdPartySMSProviderPlugsIn(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	cf := fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file %s/2fa.db
		sms example {
			from +15550000000
		}
		realm default {
			policy {
				enforce
				methods sms
			}
		}
	}
}
http://127.0.0.1:%d {
	twofactor {
		identity {
			id {http.request.header.X-User}
		}
		trusted_proxies 127.0.0.1/32
	}
	respond "app"
}`, dir, port)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	do := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("X-User", "bob")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	if status, _ := do("GET", "/reports", nil); status != http.StatusFound {
		t.Fatalf("an unverified user: %d", status)
	}
	status, page := do("GET", "/.2fa/enroll/sms", nil)
	if status != http.StatusOK {
		t.Fatalf("SMS enrollment: %d %s", status, page)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("no form on the page:\n%s", page)
	}
	if status, body := do("POST", "/.2fa/enroll/sms", url.Values{"csrf": {csrf[1]}, "action": {"send"}, "phone": {"+14155550101"}}); status != http.StatusSeeOther {
		t.Fatalf("send: %d %s", status, body)
	}
	exampleSent.Lock()
	defer exampleSent.Unlock()
	if len(exampleSent.texts) != 1 || exampleSent.texts[0].To != "+14155550101" || !regexp.MustCompile(`\b\d{6}\b`).MatchString(exampleSent.texts[0].Text) {
		t.Fatalf("the provider sent %+v", exampleSent.texts)
	}
}
