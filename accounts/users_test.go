package accounts

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// tempStore is an embedded store that ends with the test.
func tempStore(t *testing.T) store.Backend {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// A user record round-trips, is created by the first update, and lives
// in one realm only.
func TestUserRecords(t *testing.T) {
	b := tempStore(t)
	ctx := t.Context()
	const realm, id = "corp a", "alice@example.com"

	u, err := UpdateUser(ctx, b, realm, id, func(*User) error { return store.ErrAbort })
	if err != nil || u != nil {
		t.Fatalf("aborted UpdateUser of unknown user = %+v, %v; want nil, nil", u, err)
	}
	if _, err := GetUser(ctx, b, realm, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser of unknown user: err = %v, want ErrNotFound", err)
	}

	before := time.Now().Add(-time.Second)
	u, err = UpdateUser(ctx, b, realm, id, func(u *User) error {
		u.Email = id
		u.SetEnrollment(Enrollment{Method: policy.MethodTOTP, Secret: []byte{1, 2, 3}, EnrolledAt: time.Now().UTC()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != id || u.FirstSeen.Before(before) || !u.Enrolled() {
		t.Fatalf("created user = %+v; want ID, FirstSeen and an enrollment", u)
	}
	u, err = UpdateUser(ctx, b, realm, id, func(u *User) error {
		u.Epoch++
		u.Preferred = policy.MethodTOTP
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := GetUser(ctx, b, realm, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Epoch != 1 || got.Preferred != policy.MethodTOTP || !got.FirstSeen.Equal(u.FirstSeen) {
		t.Fatalf("GetUser = %+v, want %+v", got, u)
	}
	e, ok := got.Enrollment(policy.MethodTOTP)
	if !ok || !bytes.Equal(e.Secret, []byte{1, 2, 3}) {
		t.Fatalf("enrollment after round trip = %+v, %v", e, ok)
	}
	if _, err := GetUser(ctx, b, "other realm", id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user visible in another realm: err = %v", err)
	}
}
