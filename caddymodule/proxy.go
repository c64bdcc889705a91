package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
)

// proxy sends a request the gate passed on to the app: with the user's ID
// in {http.auth.user.id} (for access logs and header_up), and the Cookie
// header the gateway read, without our cookies.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, p *siteParts, v gate.Verdict, cookies identity.Cookies, next caddyhttp.Handler) error {
	if v.Identity.Known() {
		// Usually it holds the ID already (the identity came from it), and
		// setting it again would allocate.
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if cur, _ := repl.Get("http.auth.user.id"); cur != v.Identity.ID {
			repl.Set("http.auth.user.id", v.Identity.ID)
		}
	}
	if err := h.assert(r, p, v); err != nil {
		return h.refuse(w, r, p, gate.Verdict{Kind: gate.Unavailable, Err: err})
	}
	setUpstreamCookies(r, cookies)
	return h.source.Pass(w, r, cookies, next)
}

// refuse answers what the gate would not let through: as an error the
// site's handle_errors routes act on when it has any, else with our page.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, p *siteParts, v gate.Verdict) error {
	status, code, what := http.StatusBadRequest, "", ""
	switch v.Kind {
	case gate.RefusePath:
		code = pages.MalformedPath
	case gate.RefuseCookie:
		code = pages.MalformedCookie
	case gate.RefuseCredential:
		code = pages.CredentialNotChecked
		if u, ok := v.Err.(*gate.Unchecked); ok {
			what = u.What
		}
	default:
		// Fail closed: without knowing who this is, the app's session
		// might belong to a user who has not passed 2FA.
		status = http.StatusServiceUnavailable
		h.logger.Error("two-factor check unavailable (store or identity lookup); request refused", zap.Error(v.Err), zap.String("path", r.URL.Path))
	}
	if handlesErrors(r) {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		return caddyhttp.Error(status, v.Err)
	}
	look := h.look
	if p != nil {
		look = p.site.look
	}
	if code == "" {
		look.Unavailable(w, r)
	} else {
		look.Refuse(w, r, code, what)
	}
	return nil
}

// handlesErrors reports whether the request's server has handle_errors
// routes, which then answer our refusals.
func handlesErrors(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && srv.Errors != nil && len(srv.Errors.Routes) > 0
}
