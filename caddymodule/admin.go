package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

func init() {
	caddy.RegisterModule(new(adminAPI))
}

// adminAPI is admin.api.twofactor: operator routes under /twofactor/ on
// Caddy's admin endpoint. That endpoint is already operator-only (local by
// default), so these need no emailed code; every change is audited with
// the actor "operator".
type adminAPI struct {
	ctx    caddy.Context
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.twofactor", New: func() caddy.Module { return new(adminAPI) }}
}

// Provision keeps the config's context: the twofactor app is looked up
// per request, once the config's handlers have created it.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.ctx, a.logger = ctx, ctx.Logger()
	return nil
}

// Routes implements caddy.AdminRouter.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/twofactor/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func apiErr(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

func (a *adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	appIface, err := a.ctx.App("twofactor")
	if err != nil {
		return apiErr(http.StatusServiceUnavailable, "twofactor app: %v", err)
	}
	app := appIface.(*App)
	if app.backend == nil {
		return apiErr(http.StatusServiceUnavailable, "twofactor app is not running")
	}
	realm := r.URL.Query().Get("realm")
	if realm == "" {
		realm = "default"
	}
	ctx := r.Context()
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/twofactor/"), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "policy":
		switch r.Method {
		case http.MethodGet:
			p, found, err := policy.Load(ctx, app.backend, realm)
			if err != nil {
				return apiErr(http.StatusServiceUnavailable, "%v", err)
			}
			return writeAdminJSON(w, map[string]any{"realm": realm, "stored": found, "policy": p})
		case http.MethodPut, http.MethodPost:
			var body struct {
				Enabled      bool     `json:"enabled"`
				Methods      []string `json:"methods"`
				RememberDays int      `json:"remember_days"`
			}
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil {
				return apiErr(http.StatusBadRequest, "body must be {\"enabled\":bool,\"methods\":[...],\"remember_days\":n}: %v", err)
			}
			next := policy.Policy{Enabled: body.Enabled, Methods: body.Methods, RememberDays: body.RememberDays, ChangedBy: "operator", ChangedAt: time.Now().UTC()}
			next.Methods = next.Ordered()
			if err := next.Validate(policy.Availability{Email: app.emailSender != nil, SMS: app.smsSender != nil}); err != nil {
				return apiErr(http.StatusUnprocessableEntity, "%v", err)
			}
			cur, _, err := policy.Load(ctx, app.backend, realm)
			if err != nil {
				return apiErr(http.StatusServiceUnavailable, "%v", err)
			}
			stored, err := policy.Replace(ctx, app.backend, realm, cur.Version, next)
			if errors.Is(err, policy.ErrStale) {
				return apiErr(http.StatusConflict, "%v", err)
			}
			if err != nil {
				return apiErr(http.StatusServiceUnavailable, "%v", err)
			}
			a.audit(r, app, realm, "policy_changed", "", stored.Summary())
			return writeAdminJSON(w, map[string]any{"realm": realm, "policy": stored})
		}
	case len(parts) == 1 && parts[0] == "users" && r.Method == http.MethodGet:
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		users, next, err := accounts.ListUsers(ctx, app.backend, realm, r.URL.Query().Get("after"), limit)
		if err != nil {
			return apiErr(http.StatusServiceUnavailable, "%v", err)
		}
		return writeAdminJSON(w, map[string]any{"realm": realm, "users": users, "next": next})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "reset" && r.Method == http.MethodPost:
		u, err := accounts.ResetUser(ctx, app.backend, realm, parts[1])
		if errors.Is(err, accounts.ErrNoSuchUser) {
			return apiErr(http.StatusNotFound, "no user %q in realm %q", parts[1], realm)
		}
		if err != nil {
			return apiErr(http.StatusServiceUnavailable, "%v", err)
		}
		a.audit(r, app, realm, "user_reset", u.ID, "")
		if app.emailSender != nil && u.Email != "" {
			m := notify.ResetEmail("", u.Name, "an operator", time.Now())
			m.To = u.Email
			if err := app.emailSender.SendEmail(ctx, m); err != nil {
				a.logger.Warn("could not send the reset notice", zap.String("user", u.ID), zap.Error(err))
			}
		}
		return writeAdminJSON(w, map[string]any{"realm": realm, "reset": u.ID})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "unlock" && r.Method == http.MethodPost:
		if err := accounts.UnlockUser(ctx, app.backend, realm, parts[1]); err != nil {
			return apiErr(http.StatusServiceUnavailable, "%v", err)
		}
		a.audit(r, app, realm, "unlocked", parts[1], "")
		return writeAdminJSON(w, map[string]any{"realm": realm, "unlocked": parts[1]})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "revoke-devices" && r.Method == http.MethodPost:
		n, err := accounts.RevokeDevices(ctx, app.backend, realm, parts[1], nil, "")
		if err != nil {
			return apiErr(http.StatusServiceUnavailable, "%v", err)
		}
		a.audit(r, app, realm, "devices_revoked", parts[1], strconv.Itoa(n)+" devices")
		return writeAdminJSON(w, map[string]any{"realm": realm, "revoked": n})
	case len(parts) == 1 && parts[0] == "audit" && r.Method == http.MethodGet:
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > store.MaxListLimit {
			limit = 100
		}
		events, err := accounts.ListAudit(ctx, app.backend, realm, r.URL.Query().Get("before"), limit)
		if err != nil {
			return apiErr(http.StatusServiceUnavailable, "%v", err)
		}
		next := ""
		if len(events) == limit {
			next = events[len(events)-1].ID
		}
		return writeAdminJSON(w, map[string]any{"realm": realm, "events": events, "next": next})
	}
	return apiErr(http.StatusNotFound, "no such route: %s %s (see the README: policy, users, users/{id}/reset, users/{id}/unlock, users/{id}/revoke-devices, audit)", r.Method, r.URL.Path)
}

func (a *adminAPI) audit(r *http.Request, app *App, realm, action, subject, detail string) {
	err := accounts.Audit(r.Context(), app.backend, realm, accounts.AuditEvent{
		Actor: "operator", Action: action, Subject: subject, IP: r.RemoteAddr, Detail: detail,
	})
	if err != nil {
		a.logger.Warn("could not write an audit event", zap.String("action", action), zap.Error(err))
	}
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

var (
	_ caddy.Provisioner = (*adminAPI)(nil)
	_ caddy.AdminRouter = (*adminAPI)(nil)
)
