package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy2fa/caddy2fa/orgadmin"
	"github.com/caddy2fa/caddy2fa/store"
)

func init() {
	caddy.RegisterModule(new(adminAPI))
}

// adminAPI is admin.api.twofactor: operator routes under /twofactor/ on
// Caddy's admin endpoint, the third transport of the org-admin use cases.
// That endpoint is already operator-only (local by default), so these need
// no emailed code; every change is audited with the actor "operator".
type adminAPI struct {
	app *App // nil when the config has no twofactor block: then latest
	mux *http.ServeMux
}

// CaddyModule returns the Caddy module information.
func (*adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.twofactor", New: func() caddy.Module { return new(adminAPI) }}
}

// Provision finds the config's twofactor app, if it has one: Caddy builds
// admin modules before the apps, and an app made by handlers alone is
// found when it starts.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	if app, err := ctx.AppIfConfigured("twofactor"); err == nil {
		a.app = app.(*App)
	}
	a.mux = http.NewServeMux()
	for pattern, fn := range map[string]operatorFunc{
		"GET /twofactor/policy":                     getPolicy,
		"PUT /twofactor/policy":                     putPolicy,
		"POST /twofactor/policy":                    putPolicy,
		"GET /twofactor/users":                      listUsers,
		"POST /twofactor/users/{id}/reset":          resetUser,
		"POST /twofactor/users/{id}/unlock":         unlockUser,
		"POST /twofactor/users/{id}/revoke-devices": revokeDevices,
		"GET /twofactor/audit":                      listAudit,
		"GET /twofactor/jwks":                       getJWKS,
	} {
		a.mux.Handle(pattern, a.route(fn))
	}
	a.mux.Handle("/twofactor/", a.route(func(r *http.Request, _ *realmState) (any, error) {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such route: %s %s (see the README: policy, users, users/{id}/reset, users/{id}/unlock, users/{id}/revoke-devices, audit, jwks)", r.Method, r.URL.Path)}
	}))
	return nil
}

// Routes implements caddy.AdminRouter.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/twofactor/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// operatorFunc is one route on the realm the request names: its answer,
// or an error for the use cases' table.
type operatorFunc func(r *http.Request, rs *realmState) (any, error)

type answerKey struct{}

// answer carries a route's result out of the router.
type answer struct {
	body any
	err  error
}

func (a *adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	ans := &answer{}
	a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), answerKey{}, ans)))
	if ans.err != nil {
		return ans.err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(ans.body)
}

func (a *adminAPI) route(fn operatorFunc) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		ans := r.Context().Value(answerKey{}).(*answer)
		rs, err := a.realm(r)
		if err == nil {
			ans.body, err = fn(r, rs)
		}
		ans.err = apiError(err)
	})
}

// realm is the started realm the request names (?realm=, default
// "default").
func (a *adminAPI) realm(r *http.Request) (*realmState, error) {
	app := a.app
	if app == nil {
		app = latest.Load()
	}
	var run *running
	if app != nil {
		run = app.started(r.Context())
	}
	if run == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errNotStarted}
	}
	name := realmOr(r.URL.Query().Get("realm"))
	rs, ok := run.realms[name]
	if !ok {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no realm %q in this config", name)}
	}
	return rs, nil
}

// apiError answers a use case's error as the other transports do.
func apiError(err error) error {
	var already caddy.APIError
	if err == nil || errors.As(err, &already) {
		return err
	}
	ans := orgadmin.AnswerFor(err)
	msg := ans.Message
	if ans.Unavailable() {
		msg = err.Error() // the operator is told why
	}
	return caddy.APIError{HTTPStatus: ans.Status, Err: errors.New(msg)}
}

func operator(r *http.Request) orgadmin.Actor {
	by := orgadmin.Operator
	by.IP = r.RemoteAddr
	return by
}

func getPolicy(r *http.Request, rs *realmState) (any, error) {
	p, found, err := rs.operator.StoredPolicy(r.Context())
	if err != nil {
		return nil, err
	}
	out := map[string]any{"realm": rs.name, "stored": found, "policy": p}
	if prog := rs.operator.MailProgress(r.Context()); prog != nil {
		out["setup_mail"] = prog // how far the setup emails of this enable have got
	}
	return out, nil
}

func putPolicy(r *http.Request, rs *realmState) (any, error) {
	var body orgadmin.PolicyBody
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("body must be {\"enabled\":bool,\"methods\":[...],\"remember_days\":n}: %v", err)}
	}
	stored, err := rs.operator.ReplacePolicy(r.Context(), operator(r), -1, body.Policy())
	if err != nil {
		return nil, err
	}
	return map[string]any{"realm": rs.name, "policy": stored}, nil
}

// limit reads ?limit=, 100 when absent or out of bounds.
func limit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > store.MaxListLimit {
		return 100
	}
	return n
}

func listUsers(r *http.Request, rs *realmState) (any, error) {
	users, next, err := rs.operator.ListUsers(r.Context(), r.URL.Query().Get("after"), limit(r))
	if err != nil {
		return nil, err
	}
	return map[string]any{"realm": rs.name, "users": users, "next": next}, nil
}

func resetUser(r *http.Request, rs *realmState) (any, error) {
	if err := rs.operator.ResetUser(r.Context(), operator(r), r.PathValue("id")); err != nil {
		return nil, err
	}
	return map[string]any{"realm": rs.name, "reset": r.PathValue("id")}, nil
}

func unlockUser(r *http.Request, rs *realmState) (any, error) {
	if err := rs.operator.UnlockUser(r.Context(), operator(r), r.PathValue("id")); err != nil {
		return nil, err
	}
	return map[string]any{"realm": rs.name, "unlocked": r.PathValue("id")}, nil
}

func revokeDevices(r *http.Request, rs *realmState) (any, error) {
	n, err := rs.operator.RevokeDevices(r.Context(), operator(r), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"realm": rs.name, "revoked": n}, nil
}

func listAudit(r *http.Request, rs *realmState) (any, error) {
	events, next, err := rs.operator.ListAudit(r.Context(), r.URL.Query().Get("before"), limit(r))
	if err != nil {
		return nil, err
	}
	return map[string]any{"realm": rs.name, "events": events, "next": next}, nil
}

var (
	_ caddy.Provisioner = (*adminAPI)(nil)
	_ caddy.AdminRouter = (*adminAPI)(nil)
)

// getJWKS is the keys assertions are signed with (both algorithms).
func getJWKS(_ *http.Request, rs *realmState) (any, error) {
	return json.RawMessage(rs.jwks), nil
}
