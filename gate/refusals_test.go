package gate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
)

// A flood of malformed cookies from one address writes one audit event per
// window, which says how many it stands for; every refusal expires the odd
// cookie.
func TestRefusalFloodIsAuditedOncePerWindow(t *testing.T) {
	rg := newRig(t, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	refuse := func() Verdict {
		return rg.gate.Decide(context.Background(), Facts{
			Request: fromAddr("203.0.113.7:4000"), Path: "/reports", RawPath: "/reports", Who: &who{},
			CookieErr: &identity.AmbiguousCookieError{Resembles: "legacy_session", Sent: "legacy.session"},
		})
	}
	for range 40 {
		v := refuse()
		if v.Kind != RefuseCookie {
			t.Fatalf("a look-alike cookie: %v", v.Kind)
		}
		if len(v.Cookies) != 1 || v.Cookies[0].Name != "legacy.session" || v.Cookies[0].MaxAge >= 0 {
			t.Fatalf("the odd cookie is not cleared: %+v", v.Cookies)
		}
	}
	events, err := accounts.ListAudit(context.Background(), rg.b, "default", "", 100)
	if err != nil || len(events) != 1 || events[0].Action != "cookie_refused" || events[0].IP != "203.0.113.7" {
		t.Fatalf("after 40 refusals: %+v, %v", events, err)
	}
	rg.now = rg.now.Add(accounts.FoldWindow)
	refuse()
	events, _ = accounts.ListAudit(context.Background(), rg.b, "default", "", 100)
	if len(events) != 2 || !strings.Contains(events[0].Detail, "and 39 more") {
		t.Fatalf("after the window: %+v", events)
	}
}

// A credential the identity source does not see is refused before the
// app is asked, and audited.
func TestUncheckedCredentialIsRefusedAndAudited(t *testing.T) {
	rg := newRig(t, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	v := rg.gate.Decide(context.Background(), Facts{Request: fromAddr("198.51.100.2:4000"), Path: "/api/x", RawPath: "/api/x", Who: &who{err: &Unchecked{What: "an Authorization header"}}})
	if v.Kind != RefuseCredential {
		t.Fatalf("verdict %v", v.Kind)
	}
	events, _ := accounts.ListAudit(context.Background(), rg.b, "default", "", 10)
	if len(events) != 1 || events[0].Action != "credential_refused" || events[0].Detail != "an Authorization header" {
		t.Fatalf("audit: %+v", events)
	}
}

func fromAddr(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = addr
	return r
}
