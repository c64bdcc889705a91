package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// kill -9 of Caddy in the middle of many first logins: after the restart
// the store file opens, every enrollment confirmed to a user is there,
// and no user record is half-written (a method without the recovery codes
// and the time step drawn in the same transaction).
func TestEveryConfirmedEnrollmentSurvivesKill9(t *testing.T) {
	const users, killAfter, workers = 1000, 300, 12
	list := make([]legacyapp.User, users)
	for i := range list {
		list[i] = legacyapp.User{ID: fmt.Sprintf("u%04d", i), Password: "pw", Name: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("u%04d@acme.example", i)}
	}
	app := startDemoAppWith(t, legacyapp.Options{Users: list}, nil)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(loadCaddyfile("store file {DIR}/2fa.db"), app))

	var confirmed sync.Map
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
			}
		})
	}
	wg.Wait()
	if count.Load() < killAfter {
		t.Fatalf("only %d enrollments before the kill (last error: %v)", count.Load(), lastErr.Load())
	}
	<-cp.exited

	// The file opens, and the gateway serves from it again.
	cp.start()
	if r := newClient(t, cp.URL).get("/login"); r.status != http.StatusOK {
		t.Fatalf("after the restart, the login page: %d", r.status)
	}
	cp.stop()

	b, err := store.OpenBolt(filepath.Join(dir, "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatalf("the store file does not open after kill -9: %v", err)
	}
	defer b.Close()
	lost, extra := 0, 0
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
	}
	t.Logf("%d enrollments confirmed before kill -9; after the restart %d of them lost, %d more stored whose answer was cut off", count.Load(), lost, extra)
	if lost > 0 {
		t.Fatalf("%d confirmed enrollments lost", lost)
	}
}
