package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

const crashCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		store file {DIR}/2fa.db
		realm default {
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
			ip_failures 500 10m
		}
	}
	reverse_proxy {APP}
}
`

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// enrollOnce is one user's first login and enrollment, as a browser does
// it, with no test failure on the way: after the kill, requests fail, and
// the caller only counts what was confirmed. It returns the TOTP key once
// the gateway answered the code with the way on (the enrollment is then
// confirmed to the user).
func enrollOnce(base, user string) (string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (*http.Response, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	if _, _, err := do(http.MethodPost, "/login", url.Values{"username": {user}, "password": {"pw"}, "next": {"/reports"}}); err != nil {
		return "", err
	}
	if _, _, err := do(http.MethodGet, "/reports", nil); err != nil {
		return "", err
	}
	_, page, err := do(http.MethodGet, "/.2fa/enroll/totp", nil)
	if err != nil {
		return "", err
	}
	key := strings.ReplaceAll(htmltest.Text(page, "totp-key"), " ", "")
	m := csrfField.FindStringSubmatch(page)
	if key == "" || m == nil {
		return "", errors.New("no enrollment form")
	}
	code, err := totp.GenerateCodeCustom(key, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	resp, _, err := do(http.MethodPost, "/.2fa/enroll/totp", url.Values{"csrf": {m[1]}, "code": {code}})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.2fa/recovery-codes" {
		return "", fmt.Errorf("enrollment answered %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return key, nil
}

// kill -9 of Caddy in the middle of many first logins: after the restart
// the store file opens, every enrollment confirmed to a user is there,
// and no user record is half-written (a method without the recovery codes
// and the time step drawn in the same transaction).
func TestEveryConfirmedEnrollmentSurvivesKill9(t *testing.T) {
	const users, killAfter, workers = 1000, 300, 12
	list := make([]legacyapp.User, users)
	for i := range list {
		list[i] = legacyapp.User{ID: fmt.Sprintf("u%04d", i), Password: "pw", Name: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("u%04d@acme.example", i)}
	}
	app := startDemoAppWith(t, legacyapp.Options{Users: list}, nil)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(crashCaddyfile, app))

	var confirmed sync.Map
	var count atomic.Int64
	killed := make(chan struct{})
	var killOnce sync.Once
	next := make(chan string)
	go func() {
		defer close(next)
		for _, u := range list {
			select {
			case next <- u.ID:
			case <-killed:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var lastErr atomic.Value
	for range workers {
		wg.Go(func() {
			for user := range next {
				key, err := enrollOnce(cp.URL, user)
				if err != nil {
					lastErr.Store(err.Error())
					continue // refused by a dead server, or cut off by the kill
				}
				confirmed.Store(user, key)
				if count.Add(1) == killAfter {
					killOnce.Do(func() {
						cp.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
						close(killed)
					})
				}
			}
		})
	}
	wg.Wait()
	if count.Load() < killAfter {
		t.Fatalf("only %d enrollments before the kill (last error: %v)", count.Load(), lastErr.Load())
	}
	<-cp.exited

	// The file opens, and the gateway serves from it again.
	cp.start()
	if r := newClient(t, cp.URL).get("/login"); r.status != http.StatusOK {
		t.Fatalf("after the restart, the login page: %d", r.status)
	}
	cp.stop()

	b, err := store.OpenBolt(filepath.Join(dir, "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatalf("the store file does not open after kill -9: %v", err)
	}
	defer b.Close()
	lost, extra := 0, 0
	for _, u := range list {
		rec, err := accounts.GetUser(t.Context(), b, "default", u.ID)
		_, was := confirmed.Load(u.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if was {
				lost++
			}
			continue
		case err != nil:
			t.Fatal(err)
		}
		_, enrolled := rec.Enrollment(policy.MethodTOTP)
		if enrolled && (rec.Recovery == nil || rec.TOTPStep == 0 || rec.Preferred != policy.MethodTOTP) {
			t.Errorf("%s: a half-written enrollment: %+v", u.ID, rec)
		}
		if was && !enrolled {
			lost++
		}
		if enrolled && !was {
			extra++ // written, but the answer died with the server
		}
	}
	t.Logf("%d enrollments confirmed before kill -9; after the restart %d of them lost, %d more stored whose answer was cut off", count.Load(), lost, extra)
	if lost > 0 {
		t.Fatalf("%d confirmed enrollments lost", lost)
	}
}
