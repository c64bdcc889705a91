package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy2fa/caddy2fa/gate"
	"github.com/caddy2fa/caddy2fa/identity"
)

// Who a request is: the identity source of the handler, which the gate
// asks when it needs to know (never for bypass paths).

// Identify says who a request is, for the gate: the app's who-am-I lookup
// (after refusing credentials it would not see), or the placeholders.
func (h *Handler) Identify(r *http.Request, cookies identity.Cookies, proxied bool) (identity.Identity, error) {
	if h.lookup != nil {
		if what, ok := h.uncheckedCredential(r); ok && proxied {
			return identity.Identity{}, &gate.Unchecked{What: what}
		}
		id, err := h.lookup.Resolve(r.Context(), h.credentials(r, cookies))
		if err != nil {
			return identity.Identity{}, err
		}
		id.AppSession = cookies.Session
		return h.foldID(id), nil
	}
	id := h.templates.Resolve(func(s string) string {
		single, ok := h.singleTemplates[s]
		if ok && single.header != "" {
			return strings.Join(r.Header[single.header], ",") // as the replacer would
		}
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if ok {
			// A string value is what the replacer would write, without
			// building a new one.
			v, found := repl.Get(single.key)
			if !found {
				return ""
			}
			if str, ok := v.(string); ok {
				return str
			}
		}
		return repl.ReplaceAll(s, "")
	})
	if id.Known() {
		id.AppSession = cookies.Session
	}
	return h.foldID(id), nil
}

// foldID lower-cases the ID when the first factor ignores case: "ALICE"
// must not be a fresh, unenrolled user with counters of its own.
func (h *Handler) foldID(id identity.Identity) identity.Identity {
	if h.IDCase == "insensitive" {
		id.ID = strings.ToLower(id.ID)
	}
	return id
}
