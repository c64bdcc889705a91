package accounts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/recovery"
	"github.com/caddy2fa/caddy2fa/store"
)

// listCounter counts the reads ListUsers makes: List calls, and ListBatch
// calls (which it forwards, batched if the backend can).
type listCounter struct {
	store.Backend
	lists, batches atomic.Int64
}

func (c *listCounter) List(ctx context.Context, bucket, after string, limit int, reverse bool) ([]store.Entry, error) {
	c.lists.Add(1)
	return c.Backend.List(ctx, bucket, after, limit, reverse)
}

func (c *listCounter) ListBatch(ctx context.Context, buckets []string, limit int) ([][]store.Entry, error) {
	c.batches.Add(1)
	return store.ListMany(ctx, c.Backend, buckets, limit)
}

// unbatchedLists hides the backend's ListBatcher: ListMany lists one
// bucket at a time.
type unbatchedLists struct{ store.Backend }

// The users list counts each user's trusted devices: live ones only, the
// records that are devices, past a full page of them, each on its own row
// (a record that is not a user, listed between them, has none); and it
// reads every row's devices at once.
func TestListUsersCountsEachUsersDevices(t *testing.T) {
	ctx := t.Context()
	const realm = "corp"
	b := tempStore(t)
	want := map[string]int{"alice": 0, "bob": 1, "carol": 2, "dave": 3, "erin": store.MaxListLimit + 2}
	for user, n := range want {
		if _, err := UpdateUser(ctx, b, realm, user, func(u *User) error {
			u.Email = user + "@example.com"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var items []store.BatchItem
		for i := range n {
			d := Device{ID: fmt.Sprintf("d%04d", i), User: user, Created: time.Now()}
			raw, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, store.BatchItem{Key: Keys{realm}.Device(user, d.ID), Value: raw, TTL: time.Hour})
		}
		if _, err := store.PutIfAbsentMany(ctx, b, items); err != nil {
			t.Fatal(err)
		}
	}
	// "bobby" sorts between bob and carol: a row there that is skipped
	// must not shift the counts of the rows after it.
	if err := b.Put(ctx, Keys{realm}.User("bobby"), []byte("not a user"), 0); err != nil {
		t.Fatal(err)
	}
	if err := PutDevice(ctx, b, realm, Device{ID: "old", User: "carol"}, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, Keys{realm}.Device("dave", "junk"), []byte("not a device"), 0); err != nil {
		t.Fatal(err)
	}
	if err := PutDevice(ctx, b, "other realm", Device{ID: "elsewhere", User: "alice"}, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // carol's old device has expired

	for name, backend := range map[string]store.Backend{"batched": b, "one list per user": unbatchedLists{b}} {
		t.Run(name, func(t *testing.T) {
			for _, limit := range []int{100, 2} {
				counts := map[string]int{}
				after := ""
				for page := 0; ; page++ {
					if page > len(want) {
						t.Fatal("paging does not end")
					}
					rows, next, err := ListUsers(ctx, backend, realm, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						if r.Email != r.ID+"@example.com" {
							t.Errorf("row %q has email %q", r.ID, r.Email)
						}
						counts[r.ID] = r.TrustedDevices
						devs, err := ListDevices(ctx, b, realm, r.ID)
						if err != nil {
							t.Fatal(err)
						}
						if r.TrustedDevices != len(devs) {
							t.Errorf("limit %d: %s has %d trusted devices listed but %d counted", limit, r.ID, len(devs), r.TrustedDevices)
						}
					}
					if next == "" {
						break
					}
					after = next
				}
				if fmt.Sprint(counts) != fmt.Sprint(want) {
					t.Errorf("limit %d: trusted devices per user = %v, want %v", limit, counts, want)
				}
			}
		})
	}

	counted := &listCounter{Backend: b}
	if _, _, err := ListUsers(ctx, counted, realm, "", 100); err != nil {
		t.Fatal(err)
	}
	// The users, then erin's devices past a full page (two lists); every
	// other user's devices came in the one batch.
	if lists, batches := counted.lists.Load(), counted.batches.Load(); lists != 3 || batches != 1 {
		t.Errorf("ListUsers made %d List calls and %d ListBatch calls, want 3 and 1", lists, batches)
	}
}

func TestAdminsSeeEachMethodsDatesButNoSecret(t *testing.T) {
	b := tempStore(t)
	ctx := t.Context()
	enrolled := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ring, err := keyring.Parse(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	codes, set := recovery.New(ring, "default", "alice", enrolled)
	code, _ := recovery.Normalize(codes[0])
	set.Spend(ring, "default", "alice", code, enrolled.Add(time.Hour))
	if _, err := UpdateUser(ctx, b, "default", "alice", func(u *User) error {
		u.SetEnrollment(Enrollment{Method: "totp", Secret: []byte("sealed-seed"), EnrolledAt: enrolled})
		u.Used("totp", enrolled.Add(2*time.Hour))
		u.Recovery = &set
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, _, err := ListUsers(ctx, b, "default", "", 10)
	if err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	got := rows[0].MethodDetails
	if len(got) != 2 || got[0].Kind != "totp" || !got[0].Created.Equal(enrolled) || !got[0].LastUsed.Equal(enrolled.Add(2*time.Hour)) {
		t.Fatalf("totp row: %+v", got)
	}
	if got[1].Kind != "recovery" || got[1].Left == nil || *got[1].Left != 9 || !got[1].LastUsed.Equal(enrolled.Add(time.Hour)) {
		t.Fatalf("recovery row: %+v", got[1])
	}
	raw, _ := json.Marshal(rows)
	for _, secret := range []string{"sealed-seed", base64.StdEncoding.EncodeToString([]byte("sealed-seed")), base64.StdEncoding.EncodeToString(set.Codes[1].Sum), `"sum"`, `"secret"`} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the users list shows %s: %s", secret, raw)
		}
	}
}
