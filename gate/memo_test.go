package gate

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// BenchmarkHeapPerVerifiedUser reports what the gate keeps in memory for
// each verified user once their requests have warmed its caches (the
// opened session cookie and the user's epoch): the live heap after a
// collection, divided by the number of users. User IDs are email
// addresses, as most apps have them.
func BenchmarkHeapPerVerifiedUser(b *testing.B) {
	const users = 10_000
	backend, err := store.OpenBolt(filepath.Join(b.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Close()
	ring, _ := keyring.Parse(keyring.Generate())
	var perUser float64
	for b.Loop() {
		pol := policy.NewSnapshot(backend, "default", policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
		realm, err := NewRealm("default", backend, ring, pol, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		g, _ := New(Config{}, realm)
		before := liveHeap()
		for i := range users {
			user, app := fmt.Sprintf("user%05d@example.com", i), fmt.Sprintf("app-session-%05d-0123456789abcdef", i)
			v, err := g.realm.codec.EncodeSession(accounts.Session{User: user, App: g.realm.codec.AppBinding(app), Epoch: noUser, Expires: time.Now().Add(time.Hour).Unix()})
			if err != nil {
				b.Fatal(err)
			}
			f := Facts{CookieLines: []string{"app=" + app + "; " + accounts.SessionCookie + "=" + v}, Identity: identity.Identity{ID: user, AppSession: app}}
			if _, ok, err := g.validSession(context.Background(), &f); !ok || err != nil {
				b.Fatalf("a fresh session cookie was refused: %v", err)
			}
		}
		perUser = float64(liveHeap()-before) / users
		runtime.KeepAlive(g)
	}
	b.ReportMetric(perUser, "heapB/user")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A cookie, user and app session that concatenate to the same bytes as
// another triple must not share its cache entry: a session cached for
// ("ab", "c") would otherwise admit ("a", "bc").
func TestSessionKeyDoesNotConfuseShiftedParts(t *testing.T) {
	d := newKeyedDigest()
	seen := map[[16]byte][]string{}
	for _, parts := range [][]string{
		{"ab", "c", "d"}, {"a", "bc", "d"}, {"a", "b", "cd"}, {"abc", "", "d"}, {"", "abc", "d"}, {"abcd", "", ""},
	} {
		k := d.of(parts...)
		if prev, ok := seen[k]; ok {
			t.Fatalf("%q and %q have the same key", prev, parts)
		}
		seen[k] = parts
		if d.of(parts...) != k {
			t.Fatalf("%q: the key changed between two calls", parts)
		}
	}
	if other := newKeyedDigest(); other.of("ab", "c", "d") == d.of("ab", "c", "d") {
		t.Fatal("two processes' keys must differ: the seeds are random")
	}
}
