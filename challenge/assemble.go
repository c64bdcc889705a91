package challenge

import (
	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/pages"
)

// assemble gives each part of the pages what it needs, and no more.
func assemble(cfg Config, p Parts, tpl *pages.Templates) *Pages {
	keys := accounts.Keys{Realm: cfg.Realm}
	codec := accounts.NewCodec(p.Keys, cfg.Realm)
	reads := readAhead{backend: p.Store}
	w := &web{site: p.Site, tpl: tpl, csrf: pages.NewCSRF(p.Keys, cfg.Realm), prefix: cfg.PathPrefix}
	us := &users{backend: p.Store, keys: keys, now: cfg.Now, reads: reads}
	fl := &flows{backend: p.Store, ring: p.Keys, codec: codec, keys: keys, prefix: cfg.PathPrefix, lifetime: cfg.FlowLifetime, now: cfg.Now, logger: cfg.Logger, users: us, reads: reads}
	ss := &sessions{backend: p.Store, codec: codec, realm: cfg.Realm, policy: p.Policy, lifetime: cfg.SessionLifetime, freshFor: cfg.FreshFor, now: cfg.Now, onUserChanged: cfg.OnUserChanged}
	ms := &methodSet{policy: p.Policy, codes: p.Codes, passkeys: p.Passkeys != nil, prefix: cfg.PathPrefix}
	st := &stepUp{web: w, sessions: ss, flows: fl, methods: ms, freshFor: cfg.FreshFor, onEvent: cfg.OnEvent}
	cc := &codeCheck{web: w, checker: p.Checker, flows: fl, clientIP: cfg.ClientIP, now: cfg.Now}
	ve := &pageStart{web: w, users: us, flows: fl, stepUp: st, checker: p.Checker}
	trust := &deviceTrust{backend: p.Store, codec: codec, realm: cfg.Realm, policy: p.Policy, notices: p.Notices, clientIP: cfg.ClientIP, now: cfg.Now}
	rc := &recoveryCodes{backend: p.Store, ring: p.Keys, keys: keys, policy: p.Policy, now: cfg.Now}
	ms.recovery = rc
	fin := &finish{web: w, sessions: ss, flows: fl, trust: trust, notices: p.Notices, recovery: rc, methods: ms, backend: p.Store, realm: cfg.Realm, now: cfg.Now, onUserChanged: cfg.OnUserChanged}
	later := &setupLater{web: w, flows: fl, users: us, sessions: ss, plan: p.Rollout, policy: p.Policy, backend: p.Store, realm: cfg.Realm, clientIP: cfg.ClientIP, now: cfg.Now}
	auth := &authenticator{backend: p.Store, realm: cfg.Realm, issuer: cfg.Issuer, now: cfg.Now}
	return &Pages{
		cfg: cfg, web: w, flows: fl, sessions: ss, stepUp: st,
		entry: &entryPages{web: w, flows: fl, users: us, methods: ms, stepUp: st, checker: p.Checker, backend: p.Store, policy: p.Policy, later: later},
		totp:  &totpPages{web: w, flows: fl, methods: ms, check: cc, start: ve, finish: fin, auth: auth, ring: p.Keys, policy: p.Policy, onEvent: cfg.OnEvent},
		sent: &sentPages{web: w, users: us, flows: fl, methods: ms, stepUp: st, check: cc, finish: fin, codes: p.Codes, backend: p.Store, realm: cfg.Realm,
			policy: p.Policy, smsCountries: cfg.SMSCountries, phoneRegion: cfg.PhoneRegion, now: cfg.Now, onEvent: cfg.OnEvent},
		recovery: &recoveryPages{web: w, users: us, methods: ms, stepUp: st, check: cc, start: ve, finish: fin, codes: rc, notices: p.Notices,
			backend: p.Store, realm: cfg.Realm, clientIP: cfg.ClientIP, onUserChanged: cfg.OnUserChanged},
		passkeys: &passkeyPages{web: w, users: us, methods: ms, stepUp: st, check: cc, start: ve, finish: fin, rp: p.Passkeys, notices: p.Notices,
			backend: p.Store, realm: cfg.Realm, policy: p.Policy, now: cfg.Now, logger: cfg.Logger.Info, onChange: cfg.OnUserChanged},
		methods: &methodsPage{web: w, stepUp: st, users: us, methods: ms, codes: rc, backend: p.Store, realm: cfg.Realm},
		devices: &devicePages{web: w, sessions: ss, stepUp: st, trust: trust, notices: p.Notices, backend: p.Store, realm: cfg.Realm, policy: p.Policy, clientIP: cfg.ClientIP, now: cfg.Now},
		later:   later,
		unlock:  &unlockPage{web: w, users: us, check: cc, codes: p.Codes, notices: p.Notices, backend: p.Store, clientIP: cfg.ClientIP, now: cfg.Now, onEvent: cfg.OnEvent},
	}
}
