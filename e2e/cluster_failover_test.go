package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/keyring"
)

// Two gateways on a Redis Cluster of three masters with a replica each,
// under load, while the master holding the users' records is killed -9
// and its replica promoted.

func clusterFailoverConfig(peer *testpeer.RedisClusterPeer, app *demoApp, wait string) string {
	// Without wait, what the master confirmed but its replica never got is
	// gone after the failover (see the partition test).
	store := fmt.Sprintf("store redis {\n addrs %s\n key_prefix cf:\n %s\n }\n keys %s", strings.Join(peer.Addrs(), " "), wait, keyring.Generate())
	return withApp(loadCaddyfile(store), app)
}

// failoverCounts are what the load saw.
type failoverCounts struct {
	answerTally
	hot, hotPassed, hotDuringOutage, hotFailed atomic.Int64
	flows, flowsDone, flows503, flowsOther     atomic.Int64
	resetProbes, reset503                      atomic.Int64
}

func TestClusterFailoverUnderLoadFailsClosedAndLosesNothing(t *testing.T) {
	const hotUsers, resetUsers, reverifiers, newcomers = 15, 5, 10, 20
	var counts failoverCounts
	list := make([]legacyapp.User, hotUsers+resetUsers+reverifiers+newcomers)
	users := make([]*probeUser, len(list))
	for i := range list {
		list[i] = legacyapp.User{ID: fmt.Sprintf("u%02d", i), Password: "pw", Name: fmt.Sprintf("User %d", i)}
		users[i] = newProbeUser(list[i].ID, &counts.answerTally)
	}
	hot, users := users[:hotUsers], users[hotUsers:]
	reset, users := users[:resetUsers], users[resetUsers:]
	again, fresh := users[:reverifiers], users[reverifiers:]
	started := time.Now()
	peer := testpeer.RedisCluster(t)
	t.Logf("cluster of six nodes up in %v", time.Since(started).Round(time.Millisecond))
	app := startDemoAppWith(t, legacyapp.Options{Users: list}, nil)
	cf := clusterFailoverConfig(peer, app, "wait_replicas 1")
	gw := []*caddyProc{startCaddy(t, t.TempDir(), cf), startCaddy(t, t.TempDir(), cf)}
	t.Logf("two gateways up %v later", time.Since(started).Round(time.Millisecond))

	var mu sync.Mutex // guards taken and confirmed
	var taken []acceptedCode
	confirmed := map[*probeUser]bool{}
	accept := func(c acceptedCode) { mu.Lock(); taken = append(taken, c); mu.Unlock() }
	confirm := func(u *probeUser) func() {
		return func() { mu.Lock(); confirmed[u] = true; mu.Unlock() }
	}
	// Enrolled before the load: each hot user's session is then known to
	// both gateways, so its requests need no store. (Retried on a 503: a
	// loaded machine may be slow to answer before anything is killed.)
	for _, u := range slices.Concat(hot, reset, again) {
		waitUntil(t, u.id+" enrolled before the load", 30*time.Second, func() bool {
			err := u.signInWithCode(gw[0].URL, confirm(u), accept)
			if err != nil && !errors.Is(err, errGatewayUnavailable) {
				t.Fatalf("%s enrolling before the load: %v", u.id, err)
			}
			return err == nil
		})
		for _, g := range gw {
			waitUntil(t, u.id+" let through on "+g.URL, 30*time.Second, func() bool {
				status, _, body, err := u.do(g.URL, http.MethodGet, "/reports", nil)
				if err != nil && !errors.Is(err, errGatewayUnavailable) || err == nil && !reachedApp(resp{status: status, body: body}, u.id) {
					t.Fatalf("%s verified, on %s: %d %v", u.id, g.URL, status, err)
				}
				return err == nil
			})
		}
	}

	var killedAt, promotedAt atomic.Int64 // unix nanoseconds
	inOutage := func(at time.Time) bool {
		k, p := killedAt.Load(), promotedAt.Load()
		return k != 0 && at.UnixNano() >= k && (p == 0 || at.UnixNano() <= p)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var hotFailure, flowFailure, lastFlowError atomic.Value
	for w := range 3 {
		wg.Go(func() {
			for i := w; ; i += 3 {
				select {
				case <-stop:
					return
				default:
				}
				u, at := hot[i%len(hot)], time.Now()
				status, to, body, err := u.do(gw[i%2].URL, http.MethodGet, "/reports", nil)
				counts.hot.Add(1)
				if inOutage(at) {
					counts.hotDuringOutage.Add(1)
				}
				if err == nil && reachedApp(resp{status: status, body: body}, u.id) {
					counts.hotPassed.Add(1)
				} else {
					counts.hotFailed.Add(1)
					hotFailure.Store(fmt.Sprintf("%s at %s: %d %s %v", u.id, at.Format("15:04:05.000"), status, to, err))
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	// Sign-ins with a code: new users enrolling, enrolled ones verifying.
	// A flow cut off by the failover starts over, as a user would.
	flow := func(pool []*probeUser, once bool) {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := pool[i%len(pool)]
			if u.lost.Load() || !once && !u.freshStep() {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if once && u.verified.Load() {
				if allUsers(pool, through) {
					return
				}
				continue
			}
			counts.flows.Add(1)
			err := u.signInWithCode(gw[i%2].URL, confirm(u), accept)
			if err != nil {
				lastFlowError.Store(fmt.Sprintf("%s at %s: %v", u.id, time.Now().Format("15:04:05.000"), err))
			}
			switch {
			case err == nil:
				counts.flowsDone.Add(1)
			case errors.Is(err, errGatewayUnavailable):
				counts.flows503.Add(1)
			default:
				// A form whose flow the failover lost, say: restarted too.
				counts.flowsOther.Add(1)
				flowFailure.Store(u.id + ": " + err.Error())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wg.Go(func() { flow(fresh[:len(fresh)/2], true) })
	wg.Go(func() { flow(fresh[len(fresh)/2:], true) })
	wg.Go(func() { flow(again, false) })

	// Killed while new users are still enrolling.
	waitUntil(t, "load before the kill", 30*time.Second, func() bool {
		enrolled := 0
		for _, u := range fresh {
			if u.verified.Load() {
				enrolled++
			}
		}
		return enrolled >= newcomers/4 && counts.hot.Load() >= 200
	})
	// An operator resets some users just before the kill: the gateway that
	// did it forgets their sessions at once, and must not let the old ones
	// through while it cannot read the new state.
	mu.Lock()
	taken = slices.DeleteFunc(taken, func(c acceptedCode) bool { return slices.Contains(reset, c.user) })
	for _, u := range reset {
		delete(confirmed, u) // gone on purpose
	}
	mu.Unlock()
	for _, u := range reset {
		u.verified.Store(false)
		if status, body := adminReq(t, gw[0], http.MethodPost, "/twofactor/users/"+u.id+"/reset", ""); status != http.StatusOK {
			t.Fatalf("reset %s: %d %v", u.id, status, body)
		}
	}
	// The master of the users' records: their enrollments and spent steps.
	victim := peer.MasterOfKey("cf:{users/default}")
	peer.KillMaster(victim)
	killedAt.Store(time.Now().UnixNano())
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u, at := reset[i%len(reset)], time.Now()
			_, _, _, err := u.do(gw[0].URL, http.MethodGet, "/reports", nil)
			counts.resetProbes.Add(1)
			if errors.Is(err, errGatewayUnavailable) && inOutage(at) {
				counts.reset503.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	heir := peer.WaitPromoted(victim)
	promotedAt.Store(time.Now().UnixNano())
	outage := time.Duration(promotedAt.Load() - killedAt.Load())
	t.Logf("killed %s; %s promoted %v later", victim, heir, outage.Round(time.Millisecond))
	// The new master has no replica to wait for until the old one is back,
	// so until then records that must survive a failover cannot be written.
	peer.Restart(victim)
	t.Logf("%s back as a replica %v after the promotion", victim, time.Since(time.Unix(0, promotedAt.Load())).Round(time.Millisecond))
	// Bounded above a TOTP step: a user whose code was spent by a write
	// that then failed waits for the next one, as a person would.
	const flowBound = 45 * time.Second
	for deadline := time.Now().Add(flowBound); !allUsers(fresh, through); {
		if time.Now().After(deadline) {
			// A gateway still sending to the dead master, say.
			t.Fatalf("new users still not all enrolled %v after the promotion; the last failed sign-in: %v", flowBound, lastFlowError.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("every new user enrolled %v after the promotion", time.Since(time.Unix(0, promotedAt.Load())).Round(time.Millisecond))
	close(stop)
	wg.Wait()

	t.Logf("hot path: %d requests, %d passed, %d during the outage, %d failed", counts.hot.Load(), counts.hotPassed.Load(), counts.hotDuringOutage.Load(), counts.hotFailed.Load())
	t.Logf("sign-ins with a code: %d tried, %d done, %d ended in a 503, %d otherwise (last: %v)", counts.flows.Load(), counts.flowsDone.Load(), counts.flows503.Load(), counts.flowsOther.Load(), flowFailure.Load())
	t.Logf("old sessions of users reset before the kill: %d requests, %d answered 503 during the outage", counts.resetProbes.Load(), counts.reset503.Load())
	t.Logf("every user's requests: %d, of which %d answered 503", counts.requests.Load(), counts.unavailable.Load())
	if counts.hotFailed.Load() != 0 {
		t.Errorf("%d verified requests failed, last: %v", counts.hotFailed.Load(), hotFailure.Load())
	}
	if counts.hotDuringOutage.Load() == 0 || counts.flows503.Load() == 0 || counts.reset503.Load() == 0 {
		t.Errorf("the outage met %d verified requests, %d sign-ins and %d old sessions with a 503: the test proved nothing",
			counts.hotDuringOutage.Load(), counts.flows503.Load(), counts.reset503.Load())
	}
	for _, u := range users {
		if u.lost.Load() {
			t.Errorf("%s: %v during the load", u.id, errEnrollmentLost)
		}
	}
	checkNoUnverifiedRequestReachedTheApp(t, app)
	checkNoCodeTakenTwice(t, gw, taken)
	checkEveryConfirmedEnrollmentStands(t, gw, confirmed)
	t.Logf("whole test: %v", time.Since(started).Round(time.Millisecond))
}

// The master holding the users' records is cut off from its replica, goes
// on answering sign-ins for a moment, and dies; the replica, which never
// got those writes, is promoted. Waiting for the replica before confirming
// (wait_replicas 1) makes those sign-ins fail instead: whatever a user was
// told is enrolled still is, and no code taken can be taken again.
func TestNoConfirmedEnrollmentIsLostWhenTheReplicaIsCutOffAtTheFailover(t *testing.T) {
	const before, during = 4, 6
	list := make([]legacyapp.User, before+during)
	users := make([]*probeUser, len(list))
	var answers answerTally
	for i := range list {
		list[i] = legacyapp.User{ID: fmt.Sprintf("p%02d", i), Password: "pw", Name: fmt.Sprintf("User %d", i)}
		users[i] = newProbeUser(list[i].ID, &answers)
	}
	peer := testpeer.RedisCluster(t)
	app := startDemoAppWith(t, legacyapp.Options{Users: list}, nil)
	gw := []*caddyProc{startCaddy(t, t.TempDir(), clusterFailoverConfig(peer, app, "wait_replicas 1"))}
	confirmed := map[*probeUser]bool{}
	var taken []acceptedCode
	signIn := func(u *probeUser) error {
		return u.signInWithCode(gw[0].URL, func() { confirmed[u] = true }, func(c acceptedCode) { taken = append(taken, c) })
	}
	for _, u := range users[:before] {
		waitUntil(t, u.id+" enrolled", 30*time.Second, func() bool { return signIn(u) == nil })
	}
	victim := peer.MasterOfKey("cf:{users/default}")
	heal := peer.CutOffReplica(victim)
	// The enrolled verify with a new code; the others enroll.
	refused := 0
	for _, u := range users {
		if err := signIn(u); errors.Is(err, errGatewayUnavailable) {
			refused++
		}
	}
	peer.KillMaster(victim)
	heal()
	peer.WaitPromoted(victim)
	peer.Restart(victim) // a replica for the new master to wait for
	t.Logf("%d enrollments confirmed; %d of %d sign-ins refused while the replica was cut off", len(confirmed), refused, len(users))
	if refused == 0 {
		t.Error("no sign-in was refused while the replica was cut off: nothing waited for it")
	}
	checkNoCodeTakenTwice(t, gw, taken)
	checkEveryConfirmedEnrollmentStands(t, gw, confirmed)
	// New users refused start over, and get through. (Those enrolled would
	// wait for the next TOTP step: a user never enters one code twice.)
	for _, u := range users[before:] {
		var last error
		for deadline := time.Now().Add(45 * time.Second); !u.verified.Load(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s not through 45s after the failover; last: %v", u.id, last)
			}
			last = signIn(u)
			time.Sleep(20 * time.Millisecond)
		}
	}
}
