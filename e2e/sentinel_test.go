package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/keyring"
)

// Two instances on Redis Sentinel (one master, two replicas, three
// Sentinels) while the master fails over twice: once on request (SENTINEL
// FAILOVER), once by kill -9.

// haRig is the legacy app with numbered users and two Caddy instances on
// one store.
type haRig struct {
	t     *testing.T
	app   *demoApp
	nodes []*caddyProc
	users []*haUser
}

func startHARig(t *testing.T, users int, storeURL, storeOpts string) *haRig {
	t.Helper()
	list := make([]legacyapp.User, users)
	rig := &haRig{t: t}
	for i := range list {
		name := fmt.Sprintf("u%02d", i)
		list[i] = legacyapp.User{ID: name, Password: "pw", Name: name, Email: name + "@acme.example"}
		rig.users = append(rig.users, newHAUser(name))
	}
	rig.app = startDemoAppWith(t, legacyapp.Options{Users: list}, nil)
	store := fmt.Sprintf("store redis %s {\n key_prefix failover:\n %s\n }\n keys %s", storeURL, storeOpts, keyring.Generate())
	cf := withApp(loadCaddyfile(store), rig.app)
	for range 2 {
		rig.nodes = append(rig.nodes, startCaddy(t, t.TempDir(), cf))
	}
	return rig
}

func (rig *haRig) base(i int) string { return rig.nodes[i%len(rig.nodes)].URL }

// privatePath is a page of the app only one unverified user asks for, so
// a hit on it means the gateway let an unverified request through.
func privatePath(user string) string { return "/private-" + user }

// sentinelStoreOptions wait for both replicas: with wait_replicas 1, the
// planned failover lost 6 or 7 of the 10 enrollments confirmed in its
// moment.
var sentinelStoreOptions = "wait_replicas 2"

func TestSentinelFailoverFailsClosedAndLosesNothingConfirmed(t *testing.T) {
	sentinels := testpeer.RedisSentinel(t)
	rig := startHARig(t, 50, sentinels.URL(), sentinelStoreOptions)
	verified, pending, late := rig.users[:20], rig.users[20:30], rig.users[30:]
	for i, u := range verified {
		if err := u.enroll(rig.base(i)); err != nil {
			t.Fatalf("%s before the failover: %v", u.name, err)
		}
	}
	for i, u := range pending {
		if err := u.signIn(rig.base(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A code accepted just before the master dies must stay spent.
	replayer := verified[0]
	replayed := replayer.awaitCode()
	if ok, err := replayer.verify(rig.base(0), replayed); !ok || err != nil {
		t.Fatalf("verification before the failover: %v %v", ok, err)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var ok, closed tally
	hitsBefore := rig.app.hits.Load()
	for i, u := range verified[1:] {
		loop(&wg, stop, func() {
			status, _, body, err := u.do(rig.base(i), http.MethodGet, "/reports", nil)
			ok.requests.Add(1)
			switch {
			case err == nil && status == http.StatusOK && strings.Contains(body, "Signed in as "+u.name):
				ok.passed.Add(1)
			case status == http.StatusServiceUnavailable:
				ok.unavailable.Add(1)
			default:
				ok.other.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		})
	}
	for i, u := range pending {
		loop(&wg, stop, func() {
			status, _, _, err := u.do(rig.base(i), http.MethodGet, privatePath(u.name), nil)
			closed.requests.Add(1)
			switch {
			case err != nil:
				closed.other.Add(1)
			case status == http.StatusFound:
				closed.challenged.Add(1)
			case status == http.StatusServiceUnavailable:
				closed.unavailable.Add(1)
			default:
				closed.passed.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		})
	}
	// First logins go on through both failovers; a flow that fails is
	// started again, as a person would.
	var mu sync.Mutex
	enrolled := map[*haUser]bool{}
	lastErr := map[*haUser]error{}
	attempts, lostOnTheWay := 0, 0
	firstLogins := func(batch []*haUser, offset int) {
		for i, u := range batch {
			wg.Go(func() {
				// Spread over the failover: some before, some while no
				// master serves, some after.
				time.Sleep(time.Duration(i) * 150 * time.Millisecond)
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					attempts++
					mu.Unlock()
					err := u.firstSignIn(rig.base(offset+i), rig.base(offset+i+1))
					mu.Lock()
					lastErr[u] = err
					if errors.Is(err, errEnrollmentLost) {
						lostOnTheWay++
						t.Errorf("%s: %v", u.name, err)
						mu.Unlock()
						return
					}
					if err == nil {
						enrolled[u] = true
						mu.Unlock()
						return
					}
					mu.Unlock()
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
	}

	// The planned failover: Sentinel promotes a replica while the old
	// master still takes writes for a moment; what the other replica
	// acknowledged in that moment it drops when it follows the new master.
	firstLogins(late[:len(late)/2], 0)
	time.Sleep(300 * time.Millisecond)
	started := time.Now()
	promoted := sentinels.Failover()
	t.Logf("SENTINEL FAILOVER: %s is master after %v", promoted.Addr(), time.Since(started).Round(time.Millisecond))

	firstLogins(late[len(late)/2:], 1)
	time.Sleep(1500 * time.Millisecond)
	started = time.Now()
	dead, promoted := sentinels.KillMaster()
	t.Logf("kill -9 of the master: %s is master after %v", promoted.Addr(), time.Since(started).Round(time.Millisecond))
	dead.Start() // the Sentinels make it a replica of the new master
	// Every late first login gets through once the new master has both
	// replicas again; the bound only catches a hang (a user who spent
	// both steps the gateway takes on 503s waits for the next one).
	const bound = 3 * time.Minute
	deadline := time.Now().Add(bound)
	for {
		mu.Lock()
		n, done := len(enrolled), len(enrolled)+lostOnTheWay
		mu.Unlock()
		if done == len(late) {
			t.Logf("every first login confirmed %v after the kill", time.Since(started).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			for u, err := range lastErr {
				if err != nil {
					t.Logf("%s: %v", u.name, err)
				}
			}
			mu.Unlock()
			t.Fatalf("%d of %d first logins confirmed %v after the failovers", n, len(late), bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("verified users: %v", &ok)
	t.Logf("unverified users: %v", &closed)
	t.Logf("first logins: %d confirmed in %d attempts", len(enrolled), attempts)

	// Zero requests of unverified users reached the app.
	for _, p := range rig.app.requestsSince(hitsBefore) {
		if strings.HasPrefix(p, "/private-") {
			t.Errorf("an unverified request reached the app during the failover: %s", p)
		}
	}
	if closed.passed.Load() != 0 || closed.other.Load() != 0 {
		t.Errorf("unverified users got answers other than a challenge or 503: %v", &closed)
	}
	// Verified users passed on the hot path throughout.
	if ok.passed.Load() != ok.requests.Load() {
		t.Errorf("verified users were turned away during the failover: %v", &ok)
	}
	// The code spent on the old master is spent on the new one.
	if accepted, _ := replayer.verify(rig.base(1), replayed); accepted {
		t.Error("a TOTP code accepted before the failover was accepted again after it")
	}
	// Every enrollment confirmed to a user, before or during the
	// failovers, verifies on both instances afterwards.
	lost, confirmed := lostOnTheWay, len(verified)-1+len(late)
	for i, u := range slices.Concat(verified[1:], late) {
		if errors.Is(lastErr[u], errEnrollmentLost) {
			continue // counted when it was found
		}
		if accepted, err := u.verify(rig.base(i), u.awaitCode()); !accepted {
			if errors.Is(err, errNotEnrolled) {
				lost++
			}
			t.Errorf("%s's confirmed enrollment did not verify after the failovers: %v", u.name, err)
		}
	}
	t.Logf("confirmed enrollments lost: %d of %d", lost, confirmed)
	rig.wantRevocationReachesTheOtherInstance(verified[1])
}

// wantRevocationReachesTheOtherInstance: change notifications resumed on
// the new master: a reset on one instance ends the user's session on the
// other within a second.
func (rig *haRig) wantRevocationReachesTheOtherInstance(u *haUser) {
	t := rig.t
	t.Helper()
	if status, _, _, _ := u.do(rig.base(1), http.MethodGet, "/reports", nil); status != http.StatusOK {
		t.Fatalf("%s before the reset on the other instance: %d", u.name, status)
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/twofactor/users/%s/reset", rig.nodes[0].admin, u.name), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("reset on the first instance: %v %v", res, err)
	}
	res.Body.Close()
	reset := time.Now()
	for {
		status, _, _, err := u.do(rig.base(1), http.MethodGet, "/reports", nil)
		if err == nil && status == http.StatusFound {
			break
		}
		if time.Since(reset) > 10*time.Second {
			t.Fatal("the other instance still let the reset user through 10s later")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(reset); d > propagationLimit {
		t.Errorf("after the failovers a reset took %v to reach the other instance, want at most %v", d, propagationLimit)
	} else {
		t.Logf("after the failovers a reset reached the other instance in %v", d.Round(time.Millisecond))
	}
}
