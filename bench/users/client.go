package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

// client is one browser: its user, cookies and what it learned.
type client struct {
	c       *config
	http    *http.Client
	user    string
	jar     map[string]string
	key     string // TOTP key, base32
	lastTOT int64  // last time step used, which the server refuses again
}

func newHTTP(workers int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxIdleConns: workers, DisableCompression: true},
		// Browsers follow redirects; we follow them by hand to check each.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

func (cl *client) do(ctx context.Context, method, path string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.c.base+path, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(cl.c.header, cl.user)
	req.Header.Set("Accept", "text/html")
	names := make([]string, 0, len(cl.jar))
	for k := range cl.jar {
		names = append(names, k)
	}
	slices.Sort(names)
	var cookies []string
	for _, k := range names {
		cookies = append(cookies, k+"="+cl.jar[k])
	}
	if len(cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(cl.jar, ck.Name)
		} else {
			cl.jar[ck.Name] = ck.Value
		}
	}
	return resp, string(b), err
}

func want(resp *http.Response, body string, status int, what string) error {
	if resp.StatusCode != status {
		return fmt.Errorf("%s: status %d, want %d (Location %q): %.200s", what, resp.StatusCode, status, resp.Header.Get("Location"), body)
	}
	return nil
}

// code is the TOTP code for the first time step after the last one used:
// the server refuses a step at or before the last it accepted.
func (cl *client) code() (string, error) {
	step := time.Now().Unix() / 30
	if step <= cl.lastTOT {
		step = cl.lastTOT + 1 // accepted: the server allows one step of drift
	}
	cl.lastTOT = step
	return totp.GenerateCodeCustom(cl.key, time.Unix(step*30, 0), totpOpts)
}

// enroll sets up TOTP through the pages and returns with a verified session.
func (cl *client) enroll(ctx context.Context) error {
	if cl.c.appCookie != "" {
		cl.jar[cl.c.appCookie] = randomHex()
	}
	resp, body, err := cl.do(ctx, "GET", "/.2fa/enroll/totp", nil)
	if err != nil {
		return err
	}
	if err := want(resp, body, http.StatusOK, "enroll page"); err != nil {
		return err
	}
	key, csrf, action := reKey.FindStringSubmatch(body), reCSRF.FindStringSubmatch(body), reAction.FindStringSubmatch(body)
	if key == nil || csrf == nil || action == nil {
		return errors.New("enroll page: no key, csrf token or form")
	}
	cl.key = strings.ReplaceAll(key[1], " ", "")
	return cl.postCode(ctx, "enroll code", action[1], csrf[1])
}

// throughGate is one request of a verified user to the app.
func (cl *client) throughGate(ctx context.Context) error {
	resp, body, err := cl.do(ctx, "GET", "/app/"+cl.user, nil)
	if err != nil {
		return err
	}
	if err := want(resp, body, http.StatusOK, "request through the gate"); err != nil {
		return err
	}
	if resp.Header.Get("X-Upstream") == "" {
		return errors.New("request through the gate: answered by Caddy, not the app")
	}
	return nil
}

// startChallenge is a new login to the app: the gate sends the browser to
// the code form, following the redirects a browser would.
func (cl *client) startChallenge(ctx context.Context) (action, csrf string, err error) {
	delete(cl.jar, "2fa_session")
	cl.jar[cl.c.appCookie] = randomHex()
	path := "/app/" + cl.user
	for hop := 0; hop < 5; hop++ {
		resp, body, err := cl.do(ctx, "GET", path, nil)
		if err != nil {
			return "", "", err
		}
		switch resp.StatusCode {
		case http.StatusFound, http.StatusSeeOther:
			path = resp.Header.Get("Location")
			continue
		case http.StatusOK:
			a, t := reAction.FindStringSubmatch(body), reCSRF.FindStringSubmatch(body)
			if a == nil || t == nil || !strings.Contains(path, "/verify/totp") {
				return "", "", fmt.Errorf("challenge: landed on %s without a code form", path)
			}
			return a[1], t[1], nil
		default:
			return "", "", want(resp, body, http.StatusOK, "challenge "+path)
		}
	}
	return "", "", errors.New("challenge: too many redirects")
}

// verify posts the code; it is what the throughput is measured on.
func (cl *client) verify(ctx context.Context, action, csrf string) error {
	return cl.postCode(ctx, "verify code", action, csrf)
}

// postCode submits the authenticator's current code to a code form; the
// answer must be a redirect that sets a verified session.
func (cl *client) postCode(ctx context.Context, what, action, csrf string) error {
	code, err := cl.code()
	if err != nil {
		return err
	}
	resp, body, err := cl.do(ctx, "POST", action, url.Values{"csrf": {csrf}, "code": {code}})
	if err != nil {
		return err
	}
	if err := want(resp, body, http.StatusSeeOther, what); err != nil {
		return err
	}
	if cl.jar["2fa_session"] == "" {
		return errors.New(what + ": no 2fa_session cookie")
	}
	return nil
}

// local reports whether target is an http:// URL on this machine.
func local(target string) bool {
	u, err := url.Parse(target)
	return err == nil && u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost")
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
