package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realmCaddyfile is the form this version documents: the realm's settings
// in the global block, the site's own in its block.
const realmCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		store file {DIR}/state/2fa.db
		email outbox {DIR}/outbox
		realm default {
			issuer "Acme Corp"
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
		bypass /healthz
		users_file {DIR}/users.csv
	}
	reverse_proxy {APP}
}
`

// caddy validate checks a configuration and must leave no trace: no store,
// no key file, no outbox, nothing written by a background worker.
func TestValidateWritesNothing(t *testing.T) {
	bin := caddyBinary(t)
	app := startDemoApp(t)
	dir := t.TempDir()
	cf := strings.NewReplacer("{DIR}", dir, "{PORT}", fmt.Sprint(freePort(t)), "{ADMIN}", fmt.Sprint(freePort(t))).Replace(withApp(realmCaddyfile, app))
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte("id,email\nbob,bob@acme.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := filesUnder(t, dir)
	cmd := exec.Command(bin, "validate", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"), "XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	// A moment for anything started in the background to write.
	time.Sleep(200 * time.Millisecond)
	for f := range filesUnder(t, dir) {
		// Caddy's own pki app makes its local CA when it is provisioned;
		// that is Caddy's doing, and it is no state of ours.
		if !before[f] && !strings.HasPrefix(f, filepath.Join("xdg-data", "caddy", "pki")) && f != "xdg-data" && f != filepath.Join("xdg-data", "caddy") {
			t.Errorf("caddy validate wrote %s", f)
		}
	}
}

// filesUnder lists every file and folder below dir.
func filesUnder(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != dir {
			rel, _ := filepath.Rel(dir, path)
			out[rel] = true
		}
		return nil
	})
	return out
}

// A site with handle_errors answers the gate's refusals itself, with the
// status the gate chose; a site without gets our pages.
func TestHandleErrorsAnswersTheGatesRefusals(t *testing.T) {
	app := startDemoApp(t)
	dead := freePort(t)
	cf := `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	twofactor {
		store file {DIR}/2fa.db
		realm default {
			policy {
				enforce
			}
		}
	}
}
http://127.0.0.1:{PORT} {
	@down path /down/*
	handle @down {
		twofactor {
			identity lookup http://127.0.0.1:` + fmt.Sprint(dead) + `/api/me {
				cookie legacy_session
			}
		}
		respond "app"
	}
	handle {
		twofactor {
			identity lookup http://{APP}/api/me {
				cookie legacy_session
			}
		}
		reverse_proxy {APP}
	}
	handle_errors {
		respond "our error page: {err.status_code}" {err.status_code}
	}
}
`
	cp := startCaddy(t, t.TempDir(), withApp(cf, app))
	c := newClient(t, cp.URL)
	for name, req := range map[string]struct {
		path, cookie string
		status       int
	}{
		"a look-alike session cookie": {"/reports", "legacy.session=x; legacy_session=y", http.StatusBadRequest},
		"a lookup that is down":       {"/down/x", "legacy_session=y", http.StatusServiceUnavailable},
	} {
		r := c.get(req.path, "Cookie", req.cookie, "Accept", "text/html")
		if r.status != req.status || r.body != fmt.Sprintf("our error page: %d", req.status) {
			t.Errorf("%s: %d %q, want handle_errors to answer %d", name, r.status, r.body, req.status)
		}
	}
	// Without handle_errors, the branded page.
	plain := startCaddy(t, t.TempDir(), withApp(realmCaddyfile, app))
	r := newClient(t, plain.URL).get("/reports", "Cookie", "legacy.session=x; legacy_session=y", "Accept", "text/html")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Your browser sent a malformed cookie") {
		t.Fatalf("without handle_errors: %d %s", r.status, r.body)
	}
}

// A Caddyfile written for an earlier version, with the realm's settings in
// the site's block, adapts and behaves as the documented form does; the
// log says where the settings belong now.
func TestSiteRealmOptionsStillWorkWithAWarning(t *testing.T) {
	app := startDemoApp(t)
	old := startCaddy(t, t.TempDir(), withApp(lookupCaddyfile, app))
	now := startCaddy(t, t.TempDir(), withApp(realmCaddyfile, app))
	for name, cp := range map[string]*caddyProc{"site options": old, "realm block": now} {
		c := newClient(t, cp.URL)
		c.login("bob", "bob-demo", "/reports")
		page, _ := c.follow("/reports")
		if !strings.Contains(page.body, "Acme Corp") || !strings.Contains(page.body, `name="code"`) && !strings.Contains(page.body, "Set up") {
			t.Errorf("%s: the challenge does not run as configured:\n%s", name, page.body)
		}
	}
	if logs := old.logs.String(); !strings.Contains(logs, "realm settings in a site's twofactor block are deprecated") || !strings.Contains(logs, `"options":["issuer","policy"]`) {
		t.Errorf("no deprecation warning naming the options:\n%s", logs)
	}
	if strings.Contains(now.logs.String(), "deprecated") {
		t.Errorf("a deprecation warning for the documented form:\n%s", now.logs)
	}
}

// Two sources of one realm setting that disagree are refused when the
// configuration is checked, never settled silently.
func TestConflictingRealmSettingsAreRefused(t *testing.T) {
	bin := caddyBinary(t)
	for name, cf := range map[string]string{
		"two sites": `{
	twofactor {
		store file {DIR}/2fa.db
	}
}
http://127.0.0.1:1 {
	twofactor {
		issuer "Acme"
	}
}
http://127.0.0.1:2 {
	twofactor {
		issuer "Other"
	}
}`,
		"site and realm block": `{
	twofactor {
		store file {DIR}/2fa.db
		realm default {
			issuer "Acme"
		}
	}
}
http://127.0.0.1:1 {
	twofactor {
		issuer "Other"
	}
}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Caddyfile")
			os.WriteFile(path, []byte(strings.ReplaceAll(cf, "{DIR}", dir)), 0o600)
			cmd := exec.Command(bin, "validate", "--config", path, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "c"), "XDG_DATA_HOME="+filepath.Join(dir, "d"), "HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "issuer is set twice, to different values") {
				t.Fatalf("conflicting issuers: %v\n%s", err, out)
			}
		})
	}
}

// A policy that names passkeys needs every site of its realm to say where
// keys are bound: caddy validate refuses it otherwise, before anything runs.
func TestPasskeyPolicyNeedsSiteURL(t *testing.T) {
	bin := caddyBinary(t)
	for name, tc := range map[string]struct{ site, want string }{
		"no site_url":     {"", "passkeys and security keys need site_url"},
		"an IP address":   {"site_url https://127.0.0.1", "browsers refuse an IP address"},
		"a foreign rp_id": {"site_url https://app.acme.example", "must be the site's host"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			rpID := ""
			if name == "a foreign rp_id" {
				rpID = "webauthn {\n\t\t\t\trp_id other.example\n\t\t\t}"
			}
			cf := fmt.Sprintf(`{
	twofactor {
		store file %s/2fa.db
		realm default {
			policy {
				methods webauthn totp
			}
			%s
		}
	}
}
http://127.0.0.1:1 {
	twofactor {
		%s
	}
}`, dir, rpID, tc.site)
			path := filepath.Join(dir, "Caddyfile")
			os.WriteFile(path, []byte(cf), 0o600)
			cmd := exec.Command(bin, "validate", "--config", path, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "c"), "XDG_DATA_HOME="+filepath.Join(dir, "d"), "HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("want refused with %q: %v\n%s", tc.want, err, out)
			}
		})
	}
}
