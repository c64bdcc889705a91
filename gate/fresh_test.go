package gate

import (
	"context"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
)

// A step-up path wants a pass from the last 10 minutes: an older one, a
// trusted device's or a carried-over app session's is asked again, and no
// spelling of the path walks around the rule.
func TestStepUpPathsAskOldPassesAgainWhateverTheSpelling(t *testing.T) {
	rg := newRig(t, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	rule, err := NewFreshRule(10*time.Minute, []string{"/payroll/*", "/admin"})
	if err != nil {
		t.Fatal(err)
	}
	rg.gate.cfg.Fresh = []FreshRule{rule}
	u, err := accounts.UpdateUser(context.Background(), rg.b, "default", "alice", func(*accounts.User) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	session := func(s accounts.Session) string {
		s.User, s.App, s.Epoch, s.Expires = "alice", rg.realm.codec.AppBinding("app-1"), u.Epoch, rg.now.Add(time.Hour).Unix()
		return accounts.SessionCookie + "=" + must(t)(rg.realm.codec.EncodeSession(s))
	}
	fresh := session(accounts.Session{Passed: rg.now.Add(-2 * time.Minute).Unix(), Method: "totp"})
	old := session(accounts.Session{Passed: rg.now.Add(-2 * time.Hour).Unix(), Method: "totp"})
	device := session(accounts.Session{Device: "", Passed: 0})
	carried := session(accounts.Session{Carried: true})
	decide := func(raw, path, cookie string) Verdict {
		return rg.gate.Decide(context.Background(), Facts{Path: path, RawPath: raw, CookieLines: []string{cookie}, Who: &who{id: identity.Identity{ID: "alice", AppSession: "app-1"}}})
	}
	for _, c := range []struct {
		name, raw, path, cookie string
		want                    Kind
	}{
		{"fresh pass on a step-up path", "/payroll/june", "/payroll/june", fresh, Pass},
		{"old pass elsewhere", "/reports", "/reports", old, Pass},
		{"old pass on a step-up path", "/payroll/june", "/payroll/june", old, StepUp},
		{"exact step-up path", "/admin", "/admin", old, StepUp},
		{"session without a code in it", "/admin", "/admin", device, StepUp},
		{"carried-over app session", "/admin", "/admin", carried, StepUp},
		{"another case", "/PayRoll/june", "/PayRoll/june", old, StepUp},
		{"path parameter", "/static/..;/payroll/june", "/static/..;/payroll/june", old, StepUp},
		{"encoded dot-dot", "/static/%2e%2e/payroll", "/static/../payroll", old, StepUp},
		{"encoded slash", "/payroll%2fjune", "/payroll/june", old, StepUp},
		{"double encoding", "/static/%252e%252e/admin", "/static/%2e%2e/admin", old, StepUp},
		{"backslash", "/static\\..\\admin", "/static\\..\\admin", old, StepUp},
	} {
		if v := decide(c.raw, c.path, c.cookie); v.Kind != c.want {
			t.Errorf("%s: %v, want %v", c.name, v.Kind, c.want)
		}
	}
	v := decide("/payroll/june", "/payroll/june", fresh)
	if v.Passed.Method != "totp" || v.Passed.At != rg.now.Add(-2*time.Minute).Unix() || v.Passed.TrustedDevice {
		t.Fatalf("the verdict says the user passed %+v", v.Passed)
	}
	if _, err := NewFreshRule(30*time.Second, []string{"/x"}); err == nil {
		t.Error("a step-up window under a minute was accepted")
	}
	if _, err := NewFreshRule(time.Hour, []string{"payroll"}); err == nil {
		t.Error("a step-up path that is not a path was accepted")
	}
}
