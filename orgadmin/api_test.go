package orgadmin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/verify"
)

func TestEveryErrorHasOneAnswer(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{nil, 200, "ok"},
		{&badRequest{errors.New("x")}, 400, "bad_request"},
		{&InvalidChange{Reason: "choose at least one verification method"}, 422, "invalid_change"},
		{ErrNoAdminEmail, 422, "no_admin_email"},
		{&sentcode.Refusal{Message: "wait"}, 429, "send_refused"},
		{sentcode.ErrDeliveryFailed, 502, "delivery_failed"},
		{ErrMalformedCode, 422, "malformed_code"},
		{&WrongCode{Left: 2}, 422, "wrong_code"},
		{&verify.Refused{Until: time.Unix(1_800_000_000, 0)}, 429, "locked_out"},
		{&verify.Refused{Hard: true}, 429, "locked_out"},
		{ErrChangeCancelled, 429, "change_cancelled"},
		{fmt.Errorf("apply: %w", policy.ErrStale), 409, "stale_change"},
		{policy.ErrNoProposal, 404, "no_such_change"},
		{accounts.ErrNoSuchUser, 404, "no_such_user"},
		{errors.New("connection refused"), 503, "two_factor_unavailable"},
	} {
		a := AnswerFor(c.err)
		if a.Status != c.status || a.Code != c.code || (c.err != nil && a.Message == "") {
			t.Errorf("%v: %+v, want %d %s with a message", c.err, a, c.status, c.code)
		}
		if held, ok := c.err.(*verify.Refused); ok && held.Hard != a.RetryAfter.IsZero() {
			t.Errorf("%v: retry at %v", c.err, a.RetryAfter)
		}
	}
}

// alwaysFresh is a Guard for an admin who just entered a code.
type alwaysFresh struct{}

func (alwaysFresh) Guard(http.ResponseWriter, *http.Request, identity.Identity, string, bool) (bool, error) {
	return true, nil
}

func (rg *rig) api(t *testing.T) *http.ServeMux {
	t.Helper()
	site, err := pages.New(pages.Config{Prefix: "/.2fa", Org: "Acme Corp"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	NewAPI(rg.admin, site, alwaysFresh{}, nil).Register(mux)
	return mux
}

func call(mux http.Handler, id identity.Identity, method, path, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r = r.WithContext(identity.NewContext(r.Context(), id))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

func TestAPIRoutesAndRefusals(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	mux := rg.api(t)
	admin := identity.Identity{ID: "alice", Email: "alice@acme.example", Groups: []string{"general_settings:manager"}}
	for _, c := range []struct {
		who                    identity.Identity
		method, path, ct, body string
		status                 int
		want                   string
	}{
		{admin, "GET", "/.2fa/api/admin/policy", "", "", 200, `"email_available":true`},
		{identity.Identity{ID: "bob"}, "GET", "/.2fa/api/admin/policy", "", "", 403, `"forbidden"`},
		{identity.Identity{}, "GET", "/.2fa/api/admin/policy", "", "", 401, `"not_signed_in"`},
		{admin, "POST", "/.2fa/api/admin/proposals", "application/x-www-form-urlencoded", "enabled=true", 403, `"bad_origin"`},
		{admin, "POST", "/.2fa/api/admin/proposals", "application/json", `{"enabled":true,"methods":["totp"],"extra":1}`, 400, `"bad_request"`},
		{admin, "POST", "/.2fa/api/admin/proposals", "application/json", `{"enabled":true,"methods":["sms"]}`, 422, `"invalid_change"`},
		{admin, "POST", "/.2fa/api/admin/proposals", "application/json", `{"enabled":true,"methods":["totp"]}`, 201, `"code_sent_to":"a***@acme.example"`},
		{admin, "POST", "/.2fa/api/admin/proposals/nope/confirm", "application/json", `{"code":"123456"}`, 404, `"no_such_change"`},
		{admin, "POST", "/.2fa/api/admin/users/ghost/reset", "application/json", `{}`, 404, `"no_such_user"`},
		{admin, "GET", "/.2fa/api/admin/users", "", "", 200, `"id":"alice"`},
		{admin, "GET", "/.2fa/api/admin/audit?limit=5", "", "", 200, `"policy_change_proposed"`},
		{admin, "GET", "/.2fa/api/admin/nothing", "", "", 404, `"not_found"`},
		{admin, "DELETE", "/.2fa/api/admin/policy", "", "", 404, `"not_found"`},
	} {
		w := call(mux, c.who, c.method, c.path, c.ct, c.body)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s %s as %q: %d %s; want %d with %s", c.method, c.path, c.who.ID, w.Code, w.Body, c.status, c.want)
		}
	}
}

func TestAPIConfirmsAChange(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	mux := rg.api(t)
	admin := identity.Identity{ID: "alice", Email: "alice@acme.example", Groups: []string{"general_settings:manager"}}
	w := call(mux, admin, "POST", "/.2fa/api/admin/proposals", "application/json", `{"enabled":true,"methods":["totp","email"],"remember_days":30}`)
	var prop struct {
		ChangeID string `json:"change_id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &prop); err != nil || prop.ChangeID == "" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = call(mux, admin, "POST", "/.2fa/api/admin/proposals/"+prop.ChangeID+"/confirm", "application/json", `{"code":"000000"}`)
	if w.Code != 422 || !strings.Contains(w.Body.String(), `"wrong_code"`) {
		t.Fatalf("a wrong code: %d %s", w.Code, w.Body)
	}
	w = call(mux, admin, "POST", "/.2fa/api/admin/proposals/"+prop.ChangeID+"/confirm", "application/json", `{"code":"`+rg.lastCode(admin.Email)+`"}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"enabled":true`) || !rg.admin.Policy().Enabled {
		t.Fatalf("the right code: %d %s", w.Code, w.Body)
	}
}
