package challenge

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
)

// audit records an event of the request's user; failures are logged, not
// fatal (the action itself already happened).
func (s *Service) audit(ctx context.Context, action, user string, r *http.Request) {
	s.auditEvent(ctx, accounts.AuditEvent{Actor: user, Action: action, Subject: user, IP: s.cfg.ClientIP(r)})
}

func (s *Service) auditEvent(ctx context.Context, e accounts.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = s.cfg.Now()
	}
	if err := accounts.Audit(context.WithoutCancel(ctx), s.backend, s.cfg.Realm, e); err != nil {
		s.cfg.Logger.Warn("could not write an audit event", "action", e.Action, "error", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
