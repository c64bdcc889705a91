package orgadmin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/sentcode"
)

// API is Settings › Security as JSON, under the prefix's /api/admin, for
// automation. Posts must be JSON, which a cross-site form cannot send.
type API struct{ access }

// NewAPI is a site's settings API; clientIP nil takes the peer's address.
func NewAPI(a *Admin, site *pages.Site, guard Guard, clientIP func(*http.Request) string) *API {
	if clientIP == nil {
		clientIP = identity.PeerIP
	}
	return &API{access{admin: a, site: site, guard: guard, clientIP: clientIP}}
}

// apiFunc is one route: it returns its answer's status and body, or an
// error for the table to answer.
type apiFunc func(r *http.Request, by Actor) (int, any, error)

// Register routes the API on mux.
func (api *API) Register(mux *http.ServeMux) {
	pre := api.site.Prefix() + "/api/admin"
	route := func(pattern string, fn apiFunc) { mux.Handle(pattern, api.handle(fn)) }
	route("GET "+pre+"/policy", api.policy)
	route("POST "+pre+"/proposals", api.propose)
	route("POST "+pre+"/proposals/{id}/confirm", api.confirm)
	route("GET "+pre+"/users", api.users)
	route("POST "+pre+"/users/{id}/reset", api.reset)
	route("POST "+pre+"/users/{id}/unlock", api.unlock)
	route("POST "+pre+"/users/{id}/revoke-devices", api.revoke)
	route("GET "+pre+"/audit", api.audit)
	route("GET "+pre+"/rollout", api.rollout)
	route("POST "+pre+"/users/{id}/extend", api.extend)
	notFound := api.handle(func(r *http.Request, _ Actor) (int, any, error) {
		return http.StatusNotFound, pages.APIError{Error: "not_found", Message: api.site.Words(r).T("orgadmin.api.not_found")}, nil
	})
	mux.Handle(pre, notFound)
	mux.Handle(pre+"/", notFound)
}

func (api *API) handle(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, t := identity.FromContext(r.Context()), api.site.Words(r)
		if !id.Known() {
			pages.WriteJSON(w, http.StatusUnauthorized, pages.APIError{Error: "not_signed_in", Message: t.T("orgadmin.api.not_signed_in")})
			return
		}
		ok, err := api.allow(w, r, id, true)
		if err == nil && ok && r.Method == http.MethodPost && (!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !pages.SameOrigin(r)) {
			pages.WriteJSON(w, http.StatusForbidden, pages.APIError{Error: "bad_origin", Message: t.T("orgadmin.api.bad_origin")})
			return
		}
		status, body := 0, any(nil)
		if err == nil && ok {
			status, body, err = fn(r, api.actor(r, id))
		}
		if err != nil {
			a := AnswerIn(t, err)
			if a.Unavailable() {
				api.admin.cfg.OnEvent("store_unavailable")
				api.admin.cfg.Logger.Error("two-factor admin API unavailable", "error", err, "path", r.URL.Path)
				w.Header().Set("Retry-After", "5")
			}
			status, body = a.Status, apiError(a)
		}
		if status != 0 {
			pages.WriteJSON(w, status, body)
		}
	})
}

func apiError(a Answer) pages.APIError {
	e := pages.APIError{Error: a.Code, Message: a.Message}
	if !a.RetryAfter.IsZero() {
		e.RetryAfter = a.RetryAfter.UTC().Format(time.RFC3339)
	}
	return e
}

// readBody decodes a JSON object with no fields but v's.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, pages.MaxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &badRequest{err}
	}
	return nil
}

// badRequest: the body is not the JSON object the route takes.
type badRequest struct{ err error }

func (e *badRequest) Error() string { return "the body must be a JSON object: " + e.err.Error() }

// PolicyBody is the policy as the APIs take it.
type PolicyBody struct {
	Enabled      bool     `json:"enabled"`
	Methods      []string `json:"methods"`
	RememberDays int      `json:"remember_days"`
	// RecoveryCodes: false stops offering recovery codes; absent, they
	// are offered.
	RecoveryCodes *bool `json:"recovery_codes,omitempty"`
	// Rollout gives users without a method time to set up; absent: at
	// their next sign-in.
	Rollout policy.Rollout `json:"rollout,omitzero"`
}

// Policy is the body as a policy.
func (b PolicyBody) Policy() policy.Policy {
	off := b.RecoveryCodes != nil && !*b.RecoveryCodes
	return policy.Policy{Enabled: b.Enabled, Methods: b.Methods, RememberDays: b.RememberDays, RecoveryCodesOff: off, Rollout: b.Rollout}
}

func (api *API) policy(*http.Request, Actor) (int, any, error) {
	avail := api.admin.Availability()
	return http.StatusOK, map[string]any{"policy": api.admin.Policy(), "sms_available": avail.SMS, "email_available": avail.Email, "webauthn_available": avail.WebAuthn}, nil
}

func (api *API) propose(r *http.Request, by Actor) (int, any, error) {
	var body PolicyBody
	if err := readBody(r, &body); err != nil {
		return 0, nil, err
	}
	prop, to, err := api.admin.ProposeChange(r.Context(), by, body.Policy())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"change_id": prop.ID, "summary": prop.Next.Summary(), "code_sent_to": sentcode.Mask(policy.MethodEmail, to), "expires_at": prop.Created.Add(policy.ProposalLifetime)}, nil
}

func (api *API) confirm(r *http.Request, by Actor) (int, any, error) {
	var body struct {
		Code string `json:"code"`
	}
	if err := readBody(r, &body); err != nil {
		return 0, nil, err
	}
	applied, err := api.admin.ConfirmChange(r.Context(), by, r.PathValue("id"), body.Code)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"policy": applied}, nil
}

// limit reads ?limit=, def when absent or out of 1..max.
func limit(r *http.Request, def, max int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > max {
		return def
	}
	return n
}

func (api *API) users(r *http.Request, _ Actor) (int, any, error) {
	users, next, err := api.admin.ListUsers(r.Context(), r.URL.Query().Get("after"), limit(r, 100, 1000))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"users": users, "next": next}, nil
}

func (api *API) reset(r *http.Request, by Actor) (int, any, error) {
	if err := api.admin.ResetUser(r.Context(), by, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"reset": r.PathValue("id")}, nil
}

func (api *API) unlock(r *http.Request, by Actor) (int, any, error) {
	if err := api.admin.UnlockUser(r.Context(), by, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"unlocked": r.PathValue("id")}, nil
}

func (api *API) revoke(r *http.Request, by Actor) (int, any, error) {
	n, err := api.admin.RevokeDevices(r.Context(), by, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"revoked": n}, nil
}

func (api *API) audit(r *http.Request, _ Actor) (int, any, error) {
	events, next, err := api.admin.ListAudit(r.Context(), r.URL.Query().Get("before"), limit(r, 100, 500))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"events": events, "next": next}, nil
}

func (api *API) rollout(r *http.Request, _ Actor) (int, any, error) {
	state := rollout.State(r.URL.Query().Get("state"))
	if state != "" && !slices.Contains(rollout.States, state) {
		return 0, nil, &badRequest{fmt.Errorf("state must be one of %v", rollout.States)}
	}
	counts, err := api.admin.RolloutProgress(r.Context())
	if err != nil {
		return 0, nil, err
	}
	rows, next, err := api.admin.RolloutUsers(r.Context(), state, r.URL.Query().Get("after"), limit(r, 100, 1000))
	if err != nil {
		return 0, nil, err
	}
	if rows == nil {
		rows = []RolloutRow{}
	}
	return http.StatusOK, map[string]any{"counts": counts, "users": rows, "next": next}, nil
}

func (api *API) extend(r *http.Request, by Actor) (int, any, error) {
	var body struct {
		Days int `json:"days"`
	}
	if err := readBody(r, &body); err != nil {
		return 0, nil, err
	}
	to, err := api.admin.ExtendDeadline(r.Context(), by, r.PathValue("id"), body.Days)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"user": r.PathValue("id"), "deadline": to}, nil
}
