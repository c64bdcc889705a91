package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// The records whose last writes a Redis failover must not lose are named
// by bucket in store, by key in accounts and policy: a renamed bucket must
// not quietly stop waiting for replicas.
func TestRecordsThatMustSurviveAFailoverAreTheOnesThatWait(t *testing.T) {
	t.Parallel()
	k := accounts.Keys{Realm: "corp"}
	proposals := writtenBuckets(t, func(ctx context.Context, b store.Backend) error {
		_, err := policy.Propose(ctx, b, "corp", "admin", 1, policy.Policy{}, time.Now())
		return err
	})
	must := map[string]store.Key{
		"user (enrollments, TOTP steps, recovery codes)": k.User("alice"),
		"trusted device (revocation)":                    k.Device("alice", "d1"),
		"sent code (consumed once)":                      k.Code("flow", "email"),
		"passkey ceremony (consumed once)":               k.Ceremony("flow"),
		"org policy":                                     policy.Key("corp"),
	}
	if len(proposals) != 1 {
		t.Fatalf("policy.Propose wrote to buckets %q; want one", proposals)
	}
	must["policy proposal (consumed once)"] = store.Key{Bucket: proposals[0]}
	for what, key := range must {
		if !store.MustSurviveFailover(key.Bucket) {
			t.Errorf("%s, bucket %q, does not wait for replicas", what, key.Bucket)
		}
	}
	need := map[string]store.Key{
		"open challenge":           k.Flow("flow"),
		"attempts at a code":       k.Attempts("flow"),
		"wrong codes of a user":    k.UserFailures("alice"),
		"wrong codes of a network": k.NetworkFailures("192.0.2.0"),
		"lock ladder":              k.Ladder("alice"),
		"send cooldown":            k.SendCooldown("alice", "email"),
		"sends per hour":           k.SendsPerHour("email", "alice"),
		"texts per day":            k.TextsPerDay("alice"),
		"texts to a number":        accounts.TextsPerDayTo("+15550100"),
		"recovery codes to show":   k.RecoveryShown("alice"),
		"audit event":              k.Audit("0001"),
		"audit count":              k.AuditCount(),
	}
	for what, key := range need {
		if store.MustSurviveFailover(key.Bucket) {
			t.Errorf("%s, bucket %q, waits for replicas: counters and caches need not", what, key.Bucket)
		}
	}
	// A bucket whose name merely starts like one that waits does not.
	for _, bucket := range []string{"policy-drafts", "usersx/corp"} {
		if store.MustSurviveFailover(bucket) {
			t.Errorf("bucket %q waits for replicas", bucket)
		}
	}
}

func TestNegativeWaitForReplicasIsRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	for _, opts := range []store.RedisOptions{
		{URL: "redis://127.0.0.1:1/0", WaitReplicas: -1},
		{URL: "redis://127.0.0.1:1/0", WaitReplicas: 1, WaitTimeout: -time.Second},
	} {
		r, err := store.OpenRedis(t.Context(), opts)
		if err == nil {
			r.Close()
			t.Fatalf("OpenRedis(%+v) succeeded", opts)
		}
		if !strings.Contains(err.Error(), "negative wait") {
			t.Errorf("OpenRedis(%+v) = %v; want the negative wait named", opts, err)
		}
	}
}

// writtenBuckets runs write on an embedded store and returns the buckets
// it wrote to.
func writtenBuckets(t *testing.T, write func(context.Context, store.Backend) error) []string {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "s.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rec := &bucketRecorder{Backend: b}
	if err := write(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return rec.buckets
}

// bucketRecorder notes the bucket of every write.
type bucketRecorder struct {
	store.Backend
	buckets []string
}

func (r *bucketRecorder) Put(ctx context.Context, k store.Key, v []byte, ttl time.Duration) error {
	r.buckets = append(r.buckets, k.Bucket)
	return r.Backend.Put(ctx, k, v, ttl)
}

func (r *bucketRecorder) PutIfAbsent(ctx context.Context, k store.Key, v []byte, ttl time.Duration) (bool, error) {
	r.buckets = append(r.buckets, k.Bucket)
	return r.Backend.PutIfAbsent(ctx, k, v, ttl)
}

func (r *bucketRecorder) Update(ctx context.Context, k store.Key, fn func([]byte) ([]byte, time.Duration, error)) ([]byte, error) {
	r.buckets = append(r.buckets, k.Bucket)
	return r.Backend.Update(ctx, k, fn)
}
