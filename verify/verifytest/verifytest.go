// Package verifytest checks the rule every code check follows (package
// verify) on a real store: the bolt tests run it on the embedded store,
// the end-to-end tests on Redis.
package verifytest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// Run checks the attempt rules on a store opened by open, once per
// check: every store the gateway runs on must meet them.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	for name, check := range map[string]func(*testing.T, store.Backend){
		"ParallelGuessBurstComparesAtMostTheLimit":     ParallelGuessBurstComparesAtMostTheLimit,
		"LockLadderClimbsAndHoldsUntilUnlocked":        LockLadderClimbsAndHoldsUntilUnlocked,
		"RightCodeStartsTheLadderOver":                 RightCodeStartsTheLadderOver,
		"CounterRefusesPastItsLimitUntilTheWindowEnds": CounterRefusesPastItsLimitUntilTheWindowEnds,
	} {
		t.Run(name, func(t *testing.T) { check(t, open(t)) })
	}
}

func userCounter(limit int) verify.Counter {
	return verify.Counter{Name: "user", Key: store.Key{Bucket: "fail-user/t", ID: "bob"}, Limit: limit, Window: 15 * time.Minute}
}

func bobLadder() *verify.Ladder {
	return &verify.Ladder{Key: store.Key{Bucket: "ladder/t", ID: "bob"}, Every: 10, Waits: verify.DefaultWaits, HardAt: 50}
}

// A burst of 1,000 parallel guesses: every one is counted, no more than
// the limit are compared, and the right code hidden in the burst does not
// get in unless it is among those.
func ParallelGuessBurstComparesAtMostTheLimit(t *testing.T, b store.Backend) {
	now := time.Unix(1_700_000_000, 0)
	var compared, rightIn atomic.Int64
	var wg sync.WaitGroup
	// As parallel as the store's connections allow: 64 at a time.
	slots := make(chan struct{}, 64)
	for i := range 1000 {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			a, err := verify.Reserve(context.Background(), b, now, bobLadder(), userCounter(10))
			var refused *verify.Refused
			if errors.As(err, &refused) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			compared.Add(1)
			if i == 500 { // the right code
				rightIn.Add(1)
				a.Succeeded(context.Background())
			}
		})
	}
	wg.Wait()
	if n := compared.Load(); n > 10 {
		t.Fatalf("%d codes compared, the limit is 10", n)
	}
	n, _, err := b.Incr(context.Background(), userCounter(10).Key, 0, time.Minute)
	if err != nil || n != 1000 {
		t.Fatalf("the counter holds %d (%v), want all 1,000 attempts", n, err)
	}
	t.Logf("%d compared; the right code was among them: %v", compared.Load(), rightIn.Load() == 1)
}

// Ten wrong codes in a row hold code entry for a minute, then 5, 15 and 60
// minutes; at fifty the hold stays until unlocked. A right code during a
// hold is refused like a wrong one: it is never compared.
func LockLadderClimbsAndHoldsUntilUnlocked(t *testing.T, b store.Backend) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	l := bobLadder()
	fail := func() verify.Step {
		t.Helper()
		a, err := verify.Reserve(ctx, b, now, l)
		if err != nil {
			t.Fatalf("at %v: %v", now, err)
		}
		return a.Failed()
	}
	for i, wait := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour} {
		for j := 1; j < 10; j++ {
			if s := fail(); s.Reached() {
				t.Fatalf("step %d, wrong code %d: %+v", i, j, s)
			}
		}
		if s := fail(); s.Wait != wait || s.Streak != 10*(i+1) {
			t.Fatalf("the %dth wrong code in a row: %+v, want a hold of %v", 10*(i+1), s, wait)
		}
		var refused *verify.Refused
		if _, err := verify.Reserve(ctx, b, now.Add(wait-time.Second), l); !errors.As(err, &refused) || !refused.Until.Equal(now.Add(wait)) {
			t.Fatalf("during the hold: %v", err)
		}
		now = now.Add(wait)
	}
	for j := 41; j < 50; j++ {
		fail()
	}
	if s := fail(); !s.Hard {
		t.Fatalf("the 50th wrong code: %+v, want the hard hold", s)
	}
	var refused *verify.Refused
	if _, err := verify.Reserve(ctx, b, now.Add(365*24*time.Hour), l); !errors.As(err, &refused) || !refused.Hard {
		t.Fatalf("a year later: %v, want still held", err)
	}
	if st, _ := l.State(ctx, b); !st.Hard || st.Streak != 50 {
		t.Fatalf("state %+v", st)
	}
	if err := l.Reset(ctx, b); err != nil {
		t.Fatal(err)
	}
	if s := fail(); s.Streak != 1 {
		t.Fatalf("after unlocking: %+v", s)
	}
}

// A right code ends the run: the ladder starts over, even from a hold the
// reservation of that very attempt took.
func RightCodeStartsTheLadderOver(t *testing.T, b store.Backend) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	l := bobLadder()
	for range 9 {
		a, _ := verify.Reserve(ctx, b, now, l)
		a.Failed()
	}
	a, err := verify.Reserve(ctx, b, now, l) // the 10th: takes the hold
	if err != nil || !a.Failed().Reached() {
		t.Fatalf("%v %+v", err, a)
	}
	if err := a.Succeeded(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := verify.Reserve(ctx, b, now, l); err != nil || a.Failed().Streak != 1 {
		t.Fatalf("after a right code: %v", err)
	}
}

func CounterRefusesPastItsLimitUntilTheWindowEnds(t *testing.T, b store.Backend) {
	ctx := context.Background()
	c := verify.Counter{Name: "challenge", Key: store.Key{Bucket: "attempts/t", ID: "flow1"}, Limit: 3, Window: time.Minute}
	for i := range 3 {
		a, err := verify.Reserve(ctx, b, time.Now(), nil, c)
		if err != nil || a.Left("challenge") != 2-i || a.Left("user") != -1 {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	var refused *verify.Refused
	if _, err := verify.Reserve(ctx, b, time.Now(), nil, c); !errors.As(err, &refused) || refused.Counter != "challenge" || refused.Until.IsZero() {
		t.Fatalf("the 4th: %v", err)
	}
}
