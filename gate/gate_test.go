package gate

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// who is an Identifier that answers what the test says, and counts asks.
type who struct {
	id    identity.Identity
	err   error
	asked int
}

func (w *who) Identify(*http.Request, identity.Cookies, bool) (identity.Identity, error) {
	w.asked++
	return w.id, w.err
}

type rig struct {
	t     *testing.T
	b     store.Backend
	gate  *Gate
	realm *Realm
	now   time.Time
}

func newRig(t *testing.T, p policy.Policy) *rig {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ring, _ := keyring.Parse(keyring.Generate())
	rg := &rig{t: t, b: b, now: time.Unix(1_800_000_000, 0)}
	realm, err := NewRealm("default", b, ring, policy.NewSnapshot(b, "default", p), func() time.Time { return rg.now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	bypass, _ := NewBypass([]string{"/static/*"})
	rg.realm = realm
	rg.gate, _ = New(Config{Bypass: bypass}, realm)
	return rg
}

func must(t *testing.T) func(string, error) string {
	return func(v string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (rg *rig) decide(path string, w *who, cookies ...string) Verdict {
	return rg.gate.Decide(context.Background(), Facts{Path: path, RawPath: path, CookieLines: cookies, Who: w})
}

var alice = identity.Identity{ID: "alice", AppSession: "app-1"}

// Every line of the request diagram, without HTTP.
func TestDecideFollowsTheRequestDiagram(t *testing.T) {
	on := policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}, RememberDays: 30, EnabledAt: time.Unix(1_700_000_000, 0)}
	rg := newRig(t, on)
	ctx := context.Background()
	u, err := accounts.UpdateUser(ctx, rg.b, "default", "alice", func(u *accounts.User) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	codec := rg.realm.codec
	session := accounts.SessionCookie + "=" + must(t)(codec.EncodeSession(accounts.Session{User: "alice", App: codec.AppBinding("app-1"), Epoch: u.Epoch, Expires: rg.now.Add(time.Hour).Unix()}))
	if err := accounts.PutDevice(ctx, rg.b, "default", accounts.Device{ID: "d1", User: "alice", Created: rg.now}, time.Hour); err != nil {
		t.Fatal(err)
	}
	device := accounts.DeviceCookie + "=" + must(t)(codec.EncodeDevice(accounts.DeviceRef{User: "alice", Device: "d1", Epoch: u.Epoch, Expires: rg.now.Add(time.Hour).Unix()}))
	note := accounts.SeenCookie + "=" + must(t)(codec.EncodeSeen(accounts.SeenNote{User: "alice", App: codec.AppBinding("app-1"), Epoch: u.Epoch, Since: rg.now.Add(-time.Minute).Unix()}))
	// With identities from headers and no session_cookie there is no app
	// session: a note names none, and grandfathers nobody.
	noSessionNote := accounts.SeenCookie + "=" + must(t)(codec.EncodeSeen(accounts.SeenNote{User: "alice", App: codec.AppBinding(""), Epoch: u.Epoch, Since: rg.now.Add(-time.Minute).Unix()}))
	// The note predates 2FA only if 2FA came on after it.
	on.EnabledAt = rg.now
	rg.realm.policy = policy.NewSnapshot(rg.b, "default", on)

	for _, c := range []struct {
		name     string
		path     string
		who      *who
		cookies  []string
		kind     Kind
		setsOne  bool
		askedWho bool
	}{
		{"control character in the path", "/a\x00b", &who{id: alice}, nil, RefusePath, false, false},
		{"bypass path", "/static/app.css", &who{id: alice}, nil, Pass, false, false},
		{"our pages", "/.2fa/verify", &who{id: alice}, nil, Pages, false, true},
		{"our pages, lookup down", "/.2fa/verify", &who{err: errors.New("down")}, nil, Unavailable, false, true},
		{"a credential the lookup does not see", "/reports", &who{err: &Unchecked{What: "Authorization"}}, nil, RefuseCredential, false, true},
		{"lookup failed", "/reports", &who{err: errors.New("429")}, nil, Unavailable, false, true},
		{"nobody", "/reports", &who{}, nil, Pass, false, true},
		{"valid session", "/reports", &who{id: alice}, []string{session}, Pass, false, true},
		{"session of another app session", "/reports", &who{id: identity.Identity{ID: "alice", AppSession: "app-2"}}, []string{session}, Challenge, false, true},
		{"grandfathered app session", "/reports", &who{id: alice}, []string{note}, Pass, true, true},
		{"a note, but no app session to bind it to", "/reports", &who{id: identity.Identity{ID: "alice"}}, []string{noSessionNote}, Challenge, false, true},
		{"trusted device", "/reports", &who{id: identity.Identity{ID: "alice", AppSession: "app-9"}}, []string{device}, Pass, true, true},
		{"otherwise", "/reports", &who{id: alice}, nil, Challenge, false, true},
	} {
		v := rg.decide(c.path, c.who, c.cookies...)
		if v.Kind != c.kind || (len(v.Cookies) == 1) != c.setsOne || (c.who.asked > 0) != c.askedWho {
			t.Errorf("%s: %+v (who asked %d times)", c.name, v, c.who.asked)
		}
	}
	if v := rg.gate.Decide(ctx, Facts{Path: "/reports", CookieErr: errors.New("legacy.session"), Who: &who{id: alice}}); v.Kind != RefuseCookie {
		t.Errorf("look-alike cookie: %+v", v)
	}
}

// While 2FA is off, a user's first request notes the app session; later
// ones carry the note and set nothing.
func TestDecideNotesAppSessionsWhile2FAIsOff(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	v := rg.decide("/reports", &who{id: alice})
	if v.Kind != Pass || len(v.Cookies) != 1 || v.Cookies[0].Name != accounts.SeenCookie {
		t.Fatalf("first request: %+v", v)
	}
	if v := rg.decide("/reports", &who{id: alice}, v.Cookies[0].Name+"="+v.Cookies[0].Value); v.Kind != Pass || len(v.Cookies) != 0 {
		t.Fatalf("with its note: %+v", v)
	}
}
