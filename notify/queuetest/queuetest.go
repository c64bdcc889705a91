// Package queuetest checks the durable mail queue on a store shared as
// gateway processes share one: the bolt tests run it on two handles of
// one file, the end-to-end tests on two connections to a real Redis. Its
// helpers serve the queue's own tests too.
package queuetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/store"
)

// SetupMails returns n setup emails keyed by user ID, as an enable sends.
func SetupMails(n int) []notify.QueuedEmail {
	items := make([]notify.QueuedEmail, n)
	for i := range items {
		m := notify.SetupEmail(nil, "Acme", fmt.Sprintf("User %d", i), "https://app.example/2fa/", []string{"Authenticator app", "Email"}, "admin", notify.SetupTime{})
		m.To = fmt.Sprintf("user%06d@example.com", i)
		items[i] = notify.QueuedEmail{Key: fmt.Sprintf("u%06d", i), Email: m}
	}
	return items
}

// Outbox is an outbox in a folder that ends with the test.
func Outbox(t testing.TB) *notify.Outbox {
	t.Helper()
	o, err := notify.NewOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Recipients counts the emails per address in outbox folders.
func Recipients(t testing.TB, dirs ...string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, dir := range dirs {
		msgs, err := notify.ReadOutbox(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			counts[m.To]++
		}
	}
	return counts
}

// WantEachOnce fails unless every item's address got exactly one email
// and nobody else got any.
func WantEachOnce(t testing.TB, items []notify.QueuedEmail, got map[string]int) {
	t.Helper()
	for _, it := range items {
		if n := got[it.Email.To]; n != 1 {
			t.Errorf("%s got %d emails, want 1", it.Email.To, n)
		}
	}
	if len(got) != len(items) {
		t.Errorf("%d addresses got email, want %d", len(got), len(items))
	}
}

// Progress is the job's progress.
func Progress(t testing.TB, q *notify.Queue, job string) notify.Progress {
	t.Helper()
	p, err := q.Progress(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Enqueue queues the items for job.
func Enqueue(t testing.TB, q *notify.Queue, job string, items []notify.QueuedEmail) int {
	t.Helper()
	n, err := q.Enqueue(t.Context(), job, items)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// RunUntil runs workers until done reports true. It gives up after a
// minute, long past what any machine needs: only a hang gets there.
func RunUntil(t testing.TB, done func() bool, workers ...*notify.Queue) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, q := range workers {
		wg.Go(func() { q.Run(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("workers did not finish within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TwoWorkersNeverDoubleSend runs one worker on each of two handles of a
// shared store: every email goes out exactly once.
func TwoWorkersNeverDoubleSend(t *testing.T, a, b store.Backend, opts notify.QueueOptions) {
	items := SetupMails(200)
	var outboxes [2]*notify.Outbox
	var workers [2]*notify.Queue
	for i, s := range []store.Backend{a, b} {
		outboxes[i] = Outbox(t)
		opts.Rate = 2000
		workers[i] = notify.NewQueue(s, outboxes[i], opts)
	}
	Enqueue(t, workers[0], "setup-v1", items)
	RunUntil(t, func() bool { return Progress(t, workers[1], "setup-v1").Done() }, workers[:]...)
	WantEachOnce(t, items, Recipients(t, outboxes[0].Dir(), outboxes[1].Dir()))
	for i, o := range outboxes {
		if len(Recipients(t, o.Dir())) == 0 {
			t.Logf("worker %d sent nothing (the other was faster)", i)
		}
	}
	if p := Progress(t, workers[0], "setup-v1"); p.Sent != 200 || p.Total != 200 {
		t.Errorf("progress = %+v, want 200 of 200 sent", p)
	}
}
