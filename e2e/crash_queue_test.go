package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// kill -9 of Caddy while the setup-mail queue drains, three times, each
// time in the worst moment: SES has accepted a message and Caddy has not
// heard so, so "sent" is never written. After each restart the queue goes
// on; the message held by the dead process goes out again once its lease
// has run out. That resend is the one duplicate a crash may cause (no
// queue can tell an accepted message from a lost one); nobody may get a
// setup email twice otherwise, and nobody may get none.
func TestSetupMailQueueResumesAfterKill9AndSendsTwiceOnlyWhatSESAcceptedAtTheCrash(t *testing.T) {
	const users, lease = 200, 10 * time.Second
	killAt := []int{40, 90, 140} // SES answers after which Caddy dies
	rig := startFaultRigWith(t, startDemoApp(t), "", users, fmt.Sprintf("mail_queue {\n lease %v\n }", lease))
	pollUntil(t, 30*time.Second, "the users file imported", func() (bool, string) {
		_, out := adminReq(t, rig.cp, "GET", "/twofactor/users?limit=1000", "")
		list, _ := out["users"].([]any)
		return len(list) == users, fmt.Sprintf("%d users", len(list))
	})

	var mu sync.Mutex
	pending := append([]int(nil), killAt...)
	crashed := make(chan int, len(killAt))
	var crashTimes []time.Time
	rig.proxy.OnAnswer(func(forwarded int) {
		mu.Lock()
		defer mu.Unlock()
		if len(pending) == 0 || forwarded < pending[0] {
			return
		}
		pending = pending[1:]
		rig.cp.cmd.Process.Kill() // SIGKILL: no shutdown, no "sent" written
		<-rig.cp.exited           // dead before it can read SES's answer
		crashTimes = append(crashTimes, time.Now())
		crashed <- forwarded
	})

	if status, out := adminReq(t, rig.cp, "PUT", "/twofactor/policy", `{"enabled":true,"methods":["totp","email"]}`); status != http.StatusOK {
		t.Fatalf("enable 2FA: %d %v", status, out)
	}
	start := time.Now()
	var resumed []time.Duration // from each crash to the next send
	for range killAt {
		var at int
		select {
		case at = <-crashed:
		case <-time.After(2 * time.Minute): // only catches a hang
			t.Fatalf("the queue stopped before the crash: %d sent\n%s", rig.proxy.Passed(), rig.cp.logs)
		}
		mu.Lock() // the hook reads the process start replaces
		rig.cp.start()
		mu.Unlock()
		pollUntil(t, time.Minute, "a send after the restart", func() (bool, string) {
			return rig.proxy.Passed() > at, fmt.Sprintf("%d forwarded", rig.proxy.Passed())
		})
		resumed = append(resumed, time.Since(crashTimes[len(crashTimes)-1]))
	}
	rig.proxy.OnAnswer(nil)

	// Done when the queue says every message is marked sent: nothing can
	// be sent after that.
	pollUntil(t, 2*time.Minute, "every setup email marked sent", func() (bool, string) {
		status, out := adminReq(t, rig.cp, "GET", "/twofactor/policy", "")
		prog, _ := out["setup_mail"].(map[string]any)
		sent, _ := prog["sent"].(float64)
		total, _ := prog["total"].(float64)
		return status == http.StatusOK && total == users && sent == users, fmt.Sprintf("%d %v", status, prog)
	})
	drained := time.Since(start)
	rig.cp.stop()

	// SES's emails and the proxy's forwarded requests are in one order:
	// the second copy of a message is the one held at a crash.
	emails := rig.ses.Emails()
	var forwardedAt []time.Time
	for _, r := range rig.proxy.Requests() {
		if !r.Refused {
			forwardedAt = append(forwardedAt, r.At)
		}
	}
	if len(forwardedAt) != len(emails) {
		t.Fatalf("%d requests reached SES, which accepted %d emails", len(forwardedAt), len(emails))
	}
	per := map[string]int{}
	var heldFor []time.Duration // from the crash to the held message's resend
	for i, e := range emails {
		for _, to := range e.To {
			if per[to]++; per[to] == 2 && len(heldFor) < len(crashTimes) {
				heldFor = append(heldFor, forwardedAt[i].Sub(crashTimes[len(heldFor)]))
			}
		}
	}
	twice := 0
	for i := 1; i <= users; i++ {
		addr := fmt.Sprintf("user%02d@acme.example", i)
		switch n := per[addr]; {
		case n == 0:
			t.Errorf("%s got no setup email", addr)
		case n == 2:
			twice++
		case n > 2:
			t.Errorf("%s got %d setup emails", addr, n)
		}
	}
	if twice > len(killAt) || len(emails) != users+twice {
		t.Errorf("%d emails for %d users, %d of them twice after %d crashes: more than the one SES had accepted at each crash", len(emails), users, twice, len(killAt))
	}
	for i, d := range heldFor {
		// The dead process's lease was taken just before its send; a
		// resend well inside the lease would have ignored it, which two
		// live instances would turn into double sends.
		if d < lease/2 {
			t.Errorf("the message held at crash %d went out again %v after it, inside its lease of %v", i+1, d, lease)
		}
	}
	t.Logf("%d setup emails, %d kill -9 while SES answered: %d users got a second copy (at most %d allowed), %v after each crash (lease %v); the queue sent again %v after each crash; all %d marked sent %v after enabling",
		users, len(killAt), twice, len(killAt), roundAll(heldFor), lease, roundAll(resumed), users, drained.Round(100*time.Millisecond))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
