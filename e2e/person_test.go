package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The parts of a scripted person that the failover and crash tests share:
// a browser and an authenticator app. Neither fails a test: in the middle
// of a failover or a crash requests fail, and only what the gateway
// confirmed counts.

// browser is one person's browser: cookies of its own, redirects shown
// rather than followed.
type browser struct {
	hc   *http.Client
	tag  func(*http.Request) // nil, or marks each request before it goes
	from string              // the loopback address it connects from; "": any
}

// newSession drops every cookie, as a new browser session does.
func (b *browser) newSession() {
	jar, _ := cookiejar.New(nil)
	b.hc = &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if b.from != "" {
		// A person of their own network: the gateway's per-address
		// limits count them apart.
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(b.from)}}
		b.hc.Transport = &http.Transport{DialContext: d.DialContext}
	}
}

// do sends one request to base+path (form, if any, as a posted form) and
// returns the answer's status, Location and body.
func (b *browser) do(base, method, path string, form url.Values) (int, string, string, error) {
	if b.hc == nil {
		b.newSession()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.tag != nil {
		b.tag(req)
	}
	r, err := b.hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer r.Body.Close()
	page, err := io.ReadAll(r.Body)
	return r.StatusCode, r.Header.Get("Location"), string(page), err
}

// authenticator is the user's TOTP app. Its step goes on across new
// enrollment keys: the gateway spends a step for the user whatever the
// key, and a code of a spent step counts as a wrong code.
type authenticator struct {
	key  string // the key last shown at enrollment
	step int64  // the last TOTP step used
}

// nextCode is the code of the step after the last one used; false when
// that step has not begun (the gateway takes one step ahead).
func (a *authenticator) nextCode() (string, int64, bool) {
	if !a.freshStep() {
		return "", 0, false
	}
	a.step = max(a.step+1, time.Now().Unix()/30)
	c, _ := totp.GenerateCodeCustom(a.key, time.Unix(a.step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c, a.step, true
}

// awaitCode is nextCode, waiting for the step to begin.
func (a *authenticator) awaitCode() string {
	for !a.freshStep() {
		time.Sleep(200 * time.Millisecond)
	}
	c, _, _ := a.nextCode()
	return c
}

// freshStep reports whether nextCode has a step to give now.
func (a *authenticator) freshStep() bool { return a.step < time.Now().Unix()/30+1 }
