package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/htmltest"
	"github.com/caddy2fa/caddy2fa/notify"
)

const metricsCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	metrics
	twofactor {
		store file {DIR}/2fa.db
		email outbox {DIR}/outbox
		realm default {
			policy {
				enforce
				methods totp email
			}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
	}
	reverse_proxy {APP}
}
`

// scrape reads Caddy's /metrics on the admin endpoint: each series of
// ours with its labels, and its value.
func scrape(t *testing.T, cp *caddyProc) map[string]float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", cp.admin))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_twofactor_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

var addressInLabel = regexp.MustCompile(`@|\+\d{6,}|alice|bob|127\.0\.0\.1`)

// A journey through the real Caddy, then the admin endpoint's /metrics:
// each series with the values the journey made, and no label holding a
// user, an address or a number.
func TestMetricsAfterAJourney(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(metricsCaddyfile, app))

	alice := newClient(t, cp.URL)
	alice.login("alice", "alice-demo", "/reports")
	alice.follow("/reports") // challenged: to enrollment
	page, _ := alice.follow("/.2fa/enroll/totp")
	var step int64
	key := htmltest.Text(page.body, "totp-key")
	if r := alice.submitCode(page, "000000"); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong code: %d", r.status)
	}
	page, _ = alice.follow("/.2fa/enroll/totp")
	if r := alice.savedRecoveryCodes(alice.submitCode(page, nextStepCode(t, key, &step))); r.status != http.StatusSeeOther {
		t.Fatalf("enrollment: %d", r.status)
	}
	bob := newClient(t, cp.URL)
	bob.login("bob", "bob-demo", "/reports")
	bob.follow("/reports")
	page, _ = bob.follow("/.2fa/enroll/email")
	bob.press(page, "/.2fa/enroll/email")
	page, _ = bob.follow("/.2fa/enroll/email")
	msgs, err := notify.ReadOutbox(filepath.Join(dir, "outbox"))
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no code in the outbox: %v", err)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(msgs[len(msgs)-1].Text)
	if r := bob.savedRecoveryCodes(bob.submitCode(page, code)); r.status != http.StatusSeeOther {
		t.Fatalf("email enrollment: %d", r.status)
	}

	m := scrape(t, cp)
	for series, want := range map[string]float64{
		`caddy_twofactor_verifications_total{method="totp",realm="default",result="wrong"}`:    1,
		`caddy_twofactor_verifications_total{method="totp",realm="default",result="success"}`:  1,
		`caddy_twofactor_verifications_total{method="email",realm="default",result="success"}`: 1,
		`caddy_twofactor_codes_sent_total{channel="email",result="sent"}`:                      1,
		`caddy_twofactor_delivery_seconds_count{channel="email"}`:                              1,
		`caddy_twofactor_challenges_total{kind="sign_in"}`:                                     2,
	} {
		if got := m[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for series, atLeast := range map[string]float64{
		`caddy_twofactor_lookup_total{result="user"}`:         2,
		`caddy_twofactor_lookup_seconds_count`:                2,
		`caddy_twofactor_store_seconds_count{op="update"}`:    1,
		`caddy_twofactor_events_total{event="enrolled_totp"}`: 1,
	} {
		if got := m[series]; got < atLeast {
			t.Errorf("%s = %v, want at least %v", series, got, atLeast)
		}
	}
	for series := range m {
		if addressInLabel.MatchString(series) {
			t.Errorf("a label holds a user or an address: %s", series)
		}
	}

	// The gauges are counted in the background, at start and every minute:
	// a restart counts them now (the scrape waits for the first count).
	cp.restart()
	for range 300 {
		if m = scrape(t, cp); m[`caddy_twofactor_users{realm="default",state="enrolled"}`] > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for series, want := range map[string]float64{
		`caddy_twofactor_users{realm="default",state="enrolled"}`: 2,
		`caddy_twofactor_users{realm="default",state="locked"}`:   0,
		`caddy_twofactor_trusted_devices{realm="default"}`:        0,
		`caddy_twofactor_setup_mail_queue_depth`:                  0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("after a restart, %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}
