package caddymodule

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/assertion"
	"github.com/caddy2fa/caddy2fa/challenge"
	"github.com/caddy2fa/caddy2fa/orgadmin"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/verify"
)

// site is what one handler serves besides the gate: the challenge pages
// and Settings › Security, on one router under the path prefix.
type site struct {
	look      *pages.Site
	challenge *challenge.Pages
	mux       *http.ServeMux
	// related is the passkeys' related-origins document, served at
	// /.well-known/webauthn by the site whose host is the RP ID; nil
	// elsewhere.
	related http.Handler
}

// buildSite puts a handler's pages together on its started realm.
func (h *Handler) buildSite(rs *realmState, run *running, signer *assertion.Signer) (*site, error) {
	app, name, cfg, event, slogger := h.app, rs.name, rs.cfg, h.metrics.event, h.slogger
	look, err := h.newLook(cfg.issuer(), cfg.Language, accounts.Languages{Store: run.backend, Realm: name})
	if err != nil {
		return nil, err
	}
	prefix := look.Prefix()
	l := h.Limits
	if l == nil {
		l = &Limits{}
	}
	notices := challenge.NewNotices(run.backend, challenge.NoticesConfig{
		Realm: name, Org: look.Org(), SiteURL: h.SiteURL, PathPrefix: prefix, Email: app.emailSender, Logger: slogger, OnEvent: event,
		Catalog: app.messages(), Language: cfg.Language,
	})
	checker := verify.NewChecker(run.backend, verify.CheckerConfig{
		Realm: name,
		Limits: verify.Limits{
			PerChallenge: l.CodeAttempts, PerUser: l.UserFailures, UserWindow: time.Duration(l.UserWindow),
			PerNetwork: l.IPFailures, NetworkWindow: time.Duration(l.IPWindow),
		},
		OnWrong: notices.WrongCode, OnHeld: notices.HeldTry, Logger: slogger,
		OnResult: func(t verify.Try, result string) { h.metrics.verification(name, t.Method, result) },
	})
	codes := sentcode.New(run.backend, run.ring, sentcode.Config{
		Realm: name, Org: look.Org(), Email: app.emailSender, SMS: app.smsSender, Lifetime: time.Duration(l.CodeLifetime),
		Catalog: app.messages(), Language: cfg.Language,
		Limits: accounts.SendLimits{
			EmailCooldown: time.Duration(l.EmailCooldown), SMSCooldown: time.Duration(l.SMSCooldown),
			EmailPerHour: l.EmailPerHour, SMSPerHour: l.SMSPerHour, SMSPerDay: l.SMSPerDay,
		},
		Logger: slogger, OnEvent: event, OnDelivered: h.metrics.delivered,
	})
	rp, err := h.relyingParty(cfg, look.Org())
	if err != nil {
		return nil, err
	}
	pagesSvc, err := challenge.New(challenge.Config{
		Realm: name, PathPrefix: prefix, Issuer: look.Org(),
		SessionLifetime: time.Duration(h.SessionLifetime), FreshFor: time.Duration(h.FreshFor),
		SMSCountries: cfg.SMSCountries, PhoneRegion: cfg.PhoneRegion, ClientIP: clientIP,
		Logger: slogger, OnEvent: event, OnUserChanged: rs.gate.Forget,
	}, challenge.Parts{Store: run.backend, Keys: run.ring, Policy: rs.snapshot, Site: look, Checker: checker, Codes: codes, Notices: notices, Passkeys: rp, Rollout: rs.operator.Rollout()})
	if err != nil {
		return nil, err
	}
	adminCfg := orgadmin.Config{
		Realm: name, Org: look.Org(), AdminPermission: cfg.AdminPermission, SiteURL: h.SiteURL,
		Catalog: app.messages(), Language: cfg.Language,
		EnforceImmediately: cfg.EnforceImmediately, Email: app.emailSender, SMS: app.smsSender != nil, WebAuthn: rp != nil,
		Logger: slogger, OnEvent: event, OnUserChanged: rs.gate.Forget,
	}
	if run.queue != nil {
		adminCfg.Mailer = run.queue
	}
	admin, err := orgadmin.New(adminCfg, orgadmin.Parts{Store: run.backend, Policy: rs.snapshot, Checker: checker, Codes: codes})
	if err != nil {
		return nil, err
	}
	html, err := orgadmin.NewHTML(admin, look, pages.NewCSRF(run.ring, name), pagesSvc, clientIP)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if signer != nil {
		mux.Handle("GET "+prefix+"/.well-known/jwks.json", jwksHandler(signer.JWKS(), signer.Lifetime()))
	}
	pagesSvc.Register(mux)
	html.Register(mux)
	orgadmin.NewAPI(admin, look, pagesSvc, clientIP).Register(mux)
	s := &site{look: look, challenge: pagesSvc, mux: mux}
	if rp != nil {
		s.related = rp.RelatedOrigins()
	}
	return s, nil
}

// branding reads the logo, from its file or data: URI; pages.New checks
// the image and the accent.
func (h *Handler) branding() (pages.Branding, error) {
	b := pages.Branding{Accent: h.Accent}
	if h.Logo == "" {
		return b, nil
	}
	if rest, ok := strings.CutPrefix(h.Logo, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return b, errors.New("logo: a data: URI must be base64, like data:image/png;base64,iVBOR…")
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return b, fmt.Errorf("logo: the data: URI is not valid base64: %w", err)
		}
		b.Logo = raw
		return b, nil
	}
	f, err := os.Open(h.Logo)
	if err != nil {
		return b, fmt.Errorf("logo: %w", err)
	}
	defer f.Close()
	// One byte over the limit is enough to refuse it.
	raw, err := io.ReadAll(io.LimitReader(f, pages.MaxLogoBytes+1))
	if err != nil {
		return b, fmt.Errorf("logo: %w", err)
	}
	b.Logo = raw
	return b, nil
}
