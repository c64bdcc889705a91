package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loopbackOf is the address user uXXXX connects from: one of their own in
// 127.0.0.0/8, so the per-address limit on code attempts, there to stop one
// network guessing across accounts, does not stop a thousand people.
func loopbackOf(user string) string {
	n, _ := strconv.Atoi(strings.TrimPrefix(user, "u"))
	return fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250)
}

// spentCode is a TOTP code the gateway took, and its time step.
type spentCode struct {
	code string
	step int64
}

// kill -9 of Caddy in the middle of many first logins and sign-ins with a
// code: after the restart the store file opens, every enrollment confirmed
// to a user is there, no user record is half-written (a method without the
// recovery codes and the time step drawn in the same transaction), and
// every code the gateway took stays spent.
func TestEveryConfirmedEnrollmentAndSpentCodeSurvivesKill9(t *testing.T) {
	const users, killAfter, workers = 1000, 300, 12
	list := make([]legacyapp.User, users)
	for i := range list {
		list[i] = legacyapp.User{ID: fmt.Sprintf("u%04d", i), Password: "pw", Name: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("u%04d@acme.example", i)}
	}
	app := startDemoAppWith(t, legacyapp.Options{Users: list}, nil)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(loadCaddyfile("store file {DIR}/2fa.db"), app))

	var confirmed sync.Map // user -> TOTP key, once the enrollment was confirmed
	var spent sync.Map     // user -> the code of a sign-in the gateway let through
	var count atomic.Int64
	killed := make(chan struct{})
	var killOnce sync.Once
	next := make(chan string)
	go func() {
		defer close(next)
		for _, u := range list {
			select {
			case next <- u.ID:
			case <-killed:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var lastErr atomic.Value
	for range workers {
		wg.Go(func() {
			for user := range next {
				u := newHAUser(user)
				u.from = loopbackOf(user)
				if err := u.enroll(cp.URL); err != nil {
					lastErr.Store(err.Error())
				}
				if !u.confirmed {
					continue // refused by a dead server, or cut off by the kill
				}
				confirmed.Store(user, u.key)
				if count.Add(1) == killAfter {
					killOnce.Do(func() {
						cp.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
						close(killed)
					})
				}
				// And signs in again with the next code.
				code := u.awaitCode()
				if ok, _ := u.verify(cp.URL, code); ok {
					spent.Store(user, spentCode{code, u.step})
				}
			}
		})
	}
	wg.Wait()
	if count.Load() < killAfter {
		t.Fatalf("only %d enrollments before the kill (last error: %v)", count.Load(), lastErr.Load())
	}
	<-cp.exited

	// The file opens, and the gateway serves from it again; a code it took
	// before the crash it refuses after it.
	cp.start()
	if r := newClient(t, cp.URL).get("/login"); r.status != http.StatusOK {
		t.Fatalf("after the restart, the login page: %d", r.status)
	}
	replayed := 0
	spent.Range(func(user, c any) bool {
		if c.(spentCode).step < time.Now().Unix()/30-1 {
			return true // too old for the gateway anyway: proves nothing
		}
		again := newHAUser(user.(string))
		again.from = loopbackOf(user.(string))
		if ok, err := again.verify(cp.URL, c.(spentCode).code); ok || err != nil {
			t.Errorf("%s's code taken before the kill, again after the restart: let through %v, %v", user, ok, err)
		}
		replayed++
		return replayed < 50
	})
	if replayed == 0 {
		t.Error("no code taken before the kill could be replayed in time: the check proved nothing")
	}
	cp.stop()

	b, err := store.OpenBolt(filepath.Join(dir, "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatalf("the store file does not open after kill -9: %v", err)
	}
	defer b.Close()
	lost, extra, verified, forgotten := 0, 0, 0, 0
	for _, u := range list {
		rec, err := accounts.GetUser(t.Context(), b, "default", u.ID)
		_, was := confirmed.Load(u.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if was {
				lost++
			}
			continue
		case err != nil:
			t.Fatal(err)
		}
		_, enrolled := rec.Enrollment(policy.MethodTOTP)
		if enrolled && (rec.Recovery == nil || rec.TOTPStep == 0 || rec.Preferred != policy.MethodTOTP) {
			t.Errorf("%s: a half-written enrollment: %+v", u.ID, rec)
		}
		if was && !enrolled {
			lost++
		}
		if enrolled && !was {
			extra++ // written, but the answer died with the server
		}
		if c, ok := spent.Load(u.ID); ok {
			verified++
			if rec.TOTPStep < c.(spentCode).step {
				forgotten++
				t.Errorf("%s: a sign-in with the code of step %d was let through, the store says step %d was the last", u.ID, c.(spentCode).step, rec.TOTPStep)
			}
		}
	}
	t.Logf("%d enrollments confirmed before kill -9; after the restart %d of them lost, %d more stored whose answer was cut off", count.Load(), lost, extra)
	t.Logf("%d sign-ins with a code let through; the store forgot %d of their steps; %d replays after the restart refused", verified, forgotten, replayed)
	if lost > 0 {
		t.Fatalf("%d confirmed enrollments lost", lost)
	}
}
