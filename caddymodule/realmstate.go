package caddymodule

import (
	"github.com/caddy2fa/caddy2fa/assertion"
	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/orgadmin"
	"github.com/caddy2fa/caddy2fa/policy"
)

// realmState is one realm's shared state in the started app: one policy
// snapshot and one subscription to changes, whichever sites serve it, and
// the operator's use cases for the admin routes.
type realmState struct {
	name     string
	cfg      *RealmConfig
	snapshot *policy.Snapshot
	gate     *gate.Realm
	operator *orgadmin.Admin
	jwks     []byte // the assertion keys, for the admin endpoint
}

func newRealmState(name string, cfg *RealmConfig, a *App, run *running) (*realmState, error) {
	rs := &realmState{name: name, cfg: cfg, snapshot: policy.NewSnapshot(run.backend, name, cfg.initialPolicy())}
	var err error
	if rs.gate, err = gate.NewRealm(name, run.backend, run.ring, rs.snapshot, nil, a.slogger); err != nil {
		return nil, err
	}
	if rs.jwks, err = assertion.PublicKeys(run.ring); err != nil {
		return nil, err
	}
	opCfg := orgadmin.Config{
		Realm: name, Org: cfg.issuer(), AdminPermission: cfg.AdminPermission, SiteURL: a.siteURL(name),
		Catalog: a.messages(), Language: cfg.Language,
		EnforceImmediately: cfg.EnforceImmediately, Email: a.emailSender, SMS: a.smsSender != nil,
		Logger: a.slogger, OnUserChanged: rs.gate.Forget,
	}
	if run.queue != nil {
		opCfg.Mailer = run.queue
	}
	if rs.operator, err = orgadmin.New(opCfg, orgadmin.Parts{Store: run.backend, Policy: rs.snapshot}); err != nil {
		return nil, err
	}
	return rs, nil
}

// siteURL is the address the realm's emails link to when no site is
// asked: the first of its sites that names one.
func (a *App) siteURL(realm string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.sites {
		if realmOr(h.Realm) == realm && h.SiteURL != "" {
			return h.SiteURL
		}
	}
	return ""
}
