package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

func openStore(t *testing.T) store.Backend {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "p.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestValidate(t *testing.T) {
	all := Availability{Email: true, SMS: true}
	for _, c := range []struct {
		p     Policy
		avail Availability
		want  string
	}{
		{Policy{Enabled: true}, all, "at least one"},
		{Policy{Enabled: true, Methods: []string{"carrier-pigeon"}}, all, "unknown verification method"},
		{Policy{Enabled: true, Methods: []string{"totp", "totp"}}, all, "twice"},
		{Policy{Enabled: true, Methods: []string{"sms"}}, Availability{Email: true}, "paid add-on"},
		{Policy{Enabled: true, Methods: []string{"email"}}, Availability{}, "email sender"},
		{Policy{Enabled: true, Methods: []string{"totp"}, RememberDays: 91}, all, "between 0"},
		{Policy{Enabled: true, Methods: []string{"totp"}, RememberDays: -1}, all, "between 0"},
	} {
		err := c.p.Validate(c.avail)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want error with %q, got %v", c.p, c.want, err)
		}
	}
	if err := (Policy{Enabled: true, Methods: []string{"totp", "email", "sms"}, RememberDays: 90}).Validate(all); err != nil {
		t.Fatal(err)
	}
	if err := (Policy{}).Validate(Availability{}); err != nil {
		t.Fatalf("2FA off needs no methods: %v", err)
	}
}

func TestOrderedFollowsDisplayOrder(t *testing.T) {
	p := Policy{Methods: []string{"sms", "totp"}}
	if got := strings.Join(p.Ordered(), ","); got != "totp,sms" {
		t.Fatal(got)
	}
}

func TestReplaceRefusesStaleBase(t *testing.T) {
	b := openStore(t)
	now := time.Now().UTC()
	p1, err := Replace(t.Context(), b, "acme", 0, Policy{Enabled: true, Methods: []string{"totp"}, ChangedBy: "alice", ChangedAt: now}, Policy{})
	if err != nil || p1.Version != 1 || !p1.EnabledAt.Equal(now) {
		t.Fatalf("first replace: %+v %v", p1, err)
	}
	if _, err := Replace(t.Context(), b, "acme", 0, Policy{}, Policy{}); !errors.Is(err, ErrStale) {
		t.Fatalf("a change based on an old version must be refused, got %v", err)
	}
	later := now.Add(time.Hour)
	p2, err := Replace(t.Context(), b, "acme", 1, Policy{Enabled: true, Methods: []string{"totp"}, RememberDays: 7, ChangedAt: later}, Policy{})
	if err != nil || p2.Version != 2 || !p2.EnabledAt.Equal(now) {
		t.Fatalf("edit keeps EnabledAt: %+v %v", p2, err)
	}
}

func TestSnapshotFollowsStoreAndFallsBackToInitial(t *testing.T) {
	b := openStore(t)
	s := NewSnapshot(b, "acme", Policy{Enabled: false, Methods: []string{"totp"}})
	if err := s.Refresh(t.Context()); err != nil || s.Current().Enabled {
		t.Fatalf("no stored policy: want the initial one, got %+v %v", s.Current(), err)
	}
	if _, err := Replace(t.Context(), b, "acme", 0, Policy{Enabled: true, Methods: []string{"totp"}}, Policy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(t.Context()); err != nil || !s.Current().Enabled || s.Current().Version != 1 {
		t.Fatalf("stored policy: %+v %v", s.Current(), err)
	}
}

func TestReplacePublishesAChange(t *testing.T) {
	b := openStore(t)
	ch := b.Subscribe(t.Context())
	if _, err := Replace(t.Context(), b, "acme", 0, Policy{Enabled: true, Methods: []string{"totp"}}, Policy{}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-ch:
		if c.Kind != store.ChangePolicy || c.Realm != "acme" {
			t.Fatalf("change: %+v", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no change notification")
	}
}

func TestFirstReplaceOverAConfiguredPolicyKeepsItsEnabling(t *testing.T) {
	now := time.Now().UTC()
	on := Policy{Enabled: true, Methods: []string{"totp"}}
	b := openStore(t)
	edit := on
	edit.RememberDays, edit.ChangedAt = 7, now
	p, err := Replace(t.Context(), b, "acme", 0, edit, on)
	if err != nil || p.Version != 1 || !p.EnabledAt.IsZero() {
		t.Fatalf("an edit of a configured, enabled policy turned it on anew: %+v %v", p, err)
	}
	b = openStore(t)
	p, err = Replace(t.Context(), b, "acme", 0, edit, Policy{Methods: []string{"totp"}})
	if err != nil || !p.EnabledAt.Equal(now) {
		t.Fatalf("enabling over a configured, disabled policy: %+v %v", p, err)
	}
}
