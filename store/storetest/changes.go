package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

func testPublishSubscribe(t *testing.T, b store.Backend) {
	ctx := t.Context()
	sub1 := b.Subscribe(ctx)
	sub2 := b.Subscribe(ctx)
	sent := store.Change{Kind: store.ChangeUser, Realm: "corp", ID: "alice"}
	if err := b.Publish(ctx, sent); err != nil {
		t.Fatal(err)
	}
	for i, sub := range []<-chan store.Change{sub1, sub2} {
		if got := receive(t, sub); got != sent {
			t.Errorf("subscriber %d received %+v, want %+v", i+1, got, sent)
		}
	}
	next := store.Change{Kind: store.ChangePolicy, Realm: "corp"}
	if err := b.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sub1); got != next {
		t.Errorf("second change received as %+v, want %+v", got, next)
	}
}

func testSubscribeCancel(t *testing.T, b store.Backend) {
	ctx, cancel := context.WithCancel(t.Context())
	sub := b.Subscribe(ctx)
	other := b.Subscribe(t.Context())
	cancel()
	waitClosed(t, sub)
	// The other subscriber is unaffected.
	c := store.Change{Kind: store.ChangeDevice, Realm: "r", ID: "d"}
	if err := b.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, other); got != c {
		t.Fatalf("remaining subscriber received %+v, want %+v", got, c)
	}

	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	waitClosed(t, b.Subscribe(done))
}

// testSlowSubscriber checks that a subscriber that does not read cannot
// block Publish, and learns it missed changes.
func testSlowSubscriber(t *testing.T, b store.Backend) {
	ctx := t.Context()
	sub := b.Subscribe(ctx)
	const n = 1000
	published := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b.Publish(ctx, store.Change{Kind: store.ChangeDevice, ID: strconv.Itoa(i)}); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitDeadline):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	// Either every change arrives (a large enough buffer) or a resync does.
	last := strconv.Itoa(n - 1)
	for {
		c := receive(t, sub)
		if c.Kind == store.ChangeResync || c.ID == last {
			return
		}
	}
}
