package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/store"
)

// BenchmarkRedisUserUpdate is what a TOTP sign-in writes (the user's last
// step) with and without waiting for a replica, on a master and a replica
// on 127.0.0.1: latency percentiles, and the Redis commands each update
// runs (INFO commandstats). Both take two round trips, GET then the write;
// with the wait, WAIT rides in the write's pipeline and its answer comes
// once the replica has acknowledged.
func BenchmarkRedisUserUpdate(b *testing.B) {
	master, _ := masterAndReplica(b)
	onMaster := rawClient(b, master)
	for i, replicas := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait_replicas=%d", replicas), func(b *testing.B) {
			r := openRedis(b, store.RedisOptions{URL: master.URL(), KeyPrefix: fmt.Sprintf("bench%d:", i), WaitReplicas: replicas})
			ctx := b.Context()
			user := accounts.Keys{Realm: "corp"}.User("alice")
			seed := func(u *accounts.User, _ bool) (time.Duration, error) {
				*u = accounts.User{
					ID: "alice", Email: "alice@acme.example", Name: "Alice Example", Groups: []string{"staff"},
					Methods: []accounts.Enrollment{{Method: "totp", Secret: make([]byte, 60), EnrolledAt: time.Now()}}, Preferred: "totp", Epoch: 3,
					FirstSeen: time.Now(), LastSeen: time.Now(), LastVerified: time.Now(),
				}
				return 0, nil
			}
			if _, err := store.UpdateJSON(ctx, r, user, seed); err != nil {
				b.Fatal(err)
			}
			if err := onMaster.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			step := func(u *accounts.User, _ bool) (time.Duration, error) {
				u.TOTPStep++
				return 0, nil
			}
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := store.UpdateJSON(ctx, r, user, step); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			percentile := func(p float64) float64 {
				return float64(took[int(p*float64(len(took)-1))].Microseconds())
			}
			b.ReportMetric(percentile(0.50), "p50-µs")
			b.ReportMetric(percentile(0.99), "p99-µs")
			// Not GET: commandstats counts the script's own GET with the read.
			for _, name := range []string{"evalsha", "eval", "wait"} {
				b.ReportMetric(float64(commandCalls(b, onMaster, name))/float64(len(took)), name+"/op")
			}
		})
	}
}
