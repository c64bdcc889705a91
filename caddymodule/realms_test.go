package caddymodule

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/keyring"
)

// Sites of one realm share its state: one policy snapshot and one
// subscription, however many sites serve it.
func TestSitesOfOneRealmShareItsState(t *testing.T) {
	app := newTestApp()
	app.Realms = map[string]*RealmConfig{"acme": {Issuer: "Acme Corp", Policy: &PolicyConfig{Enforce: true}}}
	m, _ := newMetrics(nil)
	sites := []*Handler{{Realm: "acme"}, {Realm: "acme", PathPrefix: "/.mfa"}, {Realm: "other"}}
	for _, h := range sites {
		if err := h.provision(app, sourceOf(t, nil), zap.NewNop(), slog.New(slog.DiscardHandler), m); err != nil {
			t.Fatal(err)
		}
	}
	ring, _ := keyring.Parse(keyring.Generate())
	ctx, cancel := context.WithCancel(context.Background())
	app.cancel = cancel
	t.Cleanup(func() { app.Stop() })
	if err := app.start(ctx, tempBolt(t), ring); err != nil {
		t.Fatal(err)
	}
	if len(app.run.realms) != 2 {
		t.Fatalf("%d realms started, want 2 (acme, other)", len(app.run.realms))
	}
	acme := app.run.realms["acme"]
	if !acme.snapshot.Current().Enabled || app.run.realms["other"].snapshot.Current().Enabled {
		t.Fatal("a realm's policy reached another realm")
	}
	for _, h := range sites[:2] {
		if got := h.parts.Load().site.look.Org(); got != "Acme Corp" {
			t.Errorf("site %s of acme is named %q", h.PathPrefix, got)
		}
	}
}

func TestRealmSettingsMergeOrConflict(t *testing.T) {
	cur := &RealmConfig{Issuer: "Acme"}
	if err := mergeRealm(cur, &RealmConfig{Issuer: "Acme", PhoneRegion: "US", SMSCountries: []int{1}}); err != nil || cur.PhoneRegion != "US" {
		t.Fatalf("agreeing settings: %v, %+v", err, cur)
	}
	for name, site := range map[string]*RealmConfig{
		"issuer":        {Issuer: "Other"},
		"phone_region":  {PhoneRegion: "GB"},
		"sms_countries": {SMSCountries: []int{44}},
	} {
		if err := mergeRealm(cur, site); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	withPolicy := &RealmConfig{Policy: &PolicyConfig{Enforce: true, Methods: []string{"totp"}}}
	if err := mergeRealm(withPolicy, &RealmConfig{Policy: &PolicyConfig{Methods: []string{"totp"}}}); err == nil {
		t.Error("two different policies merged")
	}
}
