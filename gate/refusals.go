package gate

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
)

// Requests the gate refuses before it knows who sent them (a Cookie header
// the app could read differently, a credential the lookup is not given)
// are counted, and audited at most once per client per fold window, so a
// flood of them cannot fill the audit log.

// refuseCookie refuses a look-alike of a credential cookie, and expires
// the odd cookie where it can be named.
func (g *Gate) refuseCookie(ctx context.Context, f *Facts, err error) Verdict {
	v := Verdict{Kind: RefuseCookie, Err: err}
	detail := err.Error()
	var amb *identity.AmbiguousCookieError
	if errors.As(err, &amb) {
		detail = fmt.Sprintf("cookie %q could be read as %q", amb.Sent, amb.Resembles)
		if isCookieToken(amb.Sent) {
			v.Cookies = []*http.Cookie{{Name: amb.Sent, Value: "", Path: "/", MaxAge: -1}}
		}
	}
	g.refused(ctx, f, "cookie_refused", detail)
	return v
}

// refuseCredential refuses a credential the identity source does not see.
func (g *Gate) refuseCredential(ctx context.Context, f *Facts, u *Unchecked) Verdict {
	g.refused(ctx, f, "credential_refused", u.What)
	return Verdict{Kind: RefuseCredential, Err: u}
}

// refused counts a refusal and audits it, folded per client address.
func (g *Gate) refused(ctx context.Context, f *Facts, action, detail string) {
	g.cfg.OnEvent(action)
	r := g.realm
	ip := ""
	if f.Request != nil {
		ip = g.cfg.ClientIP(f.Request)
	}
	folded, ok := r.refusals.Admit(action+"\x00"+ip, r.now())
	if !ok {
		return
	}
	if folded > 0 {
		detail = fmt.Sprintf("%s (and %d more from this address since the last entry)", detail, folded)
	}
	r.logger.Warn("request refused", "action", action, "ip", ip, "detail", detail)
	e := accounts.AuditEvent{Action: action, IP: ip, Detail: accounts.ClipText(detail, 256), Time: r.now()}
	if err := accounts.Audit(context.WithoutCancel(ctx), r.backend, r.name, e); err != nil {
		r.logger.Warn("could not write an audit event", "action", action, "error", err)
	}
}

// isCookieToken reports whether name can be named in a Set-Cookie header.
func isCookieToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '=' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
