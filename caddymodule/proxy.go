package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
)

// proxy sends a request the gate passed on to the app: with the user's ID
// in {http.auth.user.id} (for access logs and header_up), and the Cookie
// header the gateway read, without our cookies.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, v gate.Verdict, cookies identity.Cookies, next caddyhttp.Handler) error {
	if v.Identity.Known() {
		// Usually it holds the ID already (the identity came from it), and
		// setting it again would allocate.
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if cur, _ := repl.Get("http.auth.user.id"); cur != v.Identity.ID {
			repl.Set("http.auth.user.id", v.Identity.ID)
		}
	}
	setUpstreamCookies(r, cookies)
	if h.lookup == nil {
		return next.ServeHTTP(w, r)
	}
	// A bypassed logout, too, changes whose the cookies are.
	return h.watchApp(w, r, h.credentials(r, cookies), next)
}

// refuse answers what the gate would not let through.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, v gate.Verdict) {
	switch v.Kind {
	case gate.RefusePath:
		h.svc.RefuseMalformedPath(w, r)
	case gate.RefuseCookie:
		h.svc.RefuseAmbiguousCookie(w, r, v.Err)
	case gate.RefuseCredential:
		what := ""
		if u, ok := v.Err.(*gate.Unchecked); ok {
			what = u.What
		}
		h.svc.RefuseUncheckedCredential(w, r, what)
	default:
		// Fail closed: without knowing who this is, the app's session
		// might belong to a user who has not passed 2FA.
		h.svc.Unavailable(w, r, v.Err)
	}
}
