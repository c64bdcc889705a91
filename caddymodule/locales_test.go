package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/policy"
)

func TestUnmarshalLanguagesAndRollout(t *testing.T) {
	var a App
	d := caddyfile.NewTestDispenser(`twofactor {
		locales /etc/caddy/locales
		realm acme {
			language de
			policy {
				enforce
				methods totp
				setup_within 14d
				setup_skips 2
			}
		}
	}`)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	r := a.Realms["acme"]
	if a.Locales != "/etc/caddy/locales" || r.Language != "de" {
		t.Fatalf("app: %s", jsonOf(&a))
	}
	if got := r.initialPolicy().Rollout; got != (policy.Rollout{Mode: policy.SetupWithinDays, Days: 14, Skips: 2}) {
		t.Fatalf("rollout: %+v", got)
	}
	by := (&PolicyConfig{SetupBy: "2027-01-31"}).rollout()
	if by != (policy.Rollout{Mode: policy.SetupByDate, Date: "2027-01-31", Skips: DefaultSetupSkips}) {
		t.Fatalf("setup_by: %+v", by)
	}
}

func TestValidateRefusesUnknownLanguageAndTwoDeadlines(t *testing.T) {
	a := newTestApp()
	a.Realms = map[string]*RealmConfig{"acme": {Language: "tlh"}}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "tlh") {
		t.Fatalf("an unknown language: %v", err)
	}
	a.Realms = map[string]*RealmConfig{"acme": {Policy: &PolicyConfig{SetupBy: "2027-01-31", SetupWithin: 1}}}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Fatalf("two deadlines: %v", err)
	}
	a.Realms = map[string]*RealmConfig{"acme": {Policy: &PolicyConfig{SetupBy: "31/01/2027"}}}
	if err := a.Validate(); err == nil {
		t.Fatal("a date that is no date")
	}
}

func TestOperatorLocalesAddALanguageAndOverrideKeyByKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pt.toml"), []byte("[language]\nname = \"Português\"\n\n[layout]\ntag = \"Autenticação de dois fatores\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "acme.de.toml"), []byte("[layout]\ntag = \"Anmeldung in zwei Schritten\"\n"), 0o644)
	c, err := loadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Words("pt").T("layout.tag"); got != "Autenticação de dois fatores" {
		t.Errorf("added language: %q", got)
	}
	if got := c.Words("pt").T("layout.language"); got != "Language" {
		t.Errorf("a message the added language lacks reads in English: %q", got)
	}
	de := c.Words("de")
	if de.T("layout.tag") != "Anmeldung in zwei Schritten" || de.T("layout.language") != "Sprache" {
		t.Errorf("override: %q, kept: %q", de.T("layout.tag"), de.T("layout.language"))
	}
	os.WriteFile(filepath.Join(dir, "broken.toml.toml"), []byte("[[["), 0o644)
	if _, err := loadCatalog(dir); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a file that does not parse: %v", err)
	}
	if _, err := loadCatalog(filepath.Join(dir, "missing")); err == nil {
		t.Error("a folder that does not exist")
	}
}
