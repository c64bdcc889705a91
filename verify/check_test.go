package verify_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

func checker(t *testing.T, limits verify.Limits, onWrong func(verify.Try, verify.Step)) (*verify.Checker, store.Backend) {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	now := time.Unix(1_800_000_000, 0)
	return verify.NewChecker(b, verify.CheckerConfig{
		Realm: "t", Limits: limits, Now: func() time.Time { return now },
		OnWrong: func(_ context.Context, try verify.Try, s verify.Step) {
			if onWrong != nil {
				onWrong(try, s)
			}
		},
	}), b
}

func compareWith(right string) func(context.Context, string) (bool, error) {
	return func(_ context.Context, code string) (bool, error) { return code == right, nil }
}

// What is not a code costs no attempt and is never compared.
func TestMalformedCodeCostsNothing(t *testing.T) {
	c, _ := checker(t, verify.Limits{PerChallenge: 1}, nil)
	compared := false
	for _, code := range []string{"", "12345", "1234567", "abcdef", "１２３４５６"} {
		res, err := c.Check(t.Context(), verify.Try{User: "bob", Challenge: "f1", Code: code}, func(context.Context, string) (bool, error) {
			compared = true
			return false, nil
		})
		if err != nil || res.Outcome != verify.Malformed {
			t.Fatalf("%q: %+v %v", code, res, err)
		}
	}
	if compared {
		t.Fatal("a malformed code was compared")
	}
	if res, _ := c.Check(t.Context(), verify.Try{User: "bob", Challenge: "f1", Code: "123 456"}, compareWith("123456")); res.Outcome != verify.Right {
		t.Fatalf("the one allowed attempt after five malformed ones: %+v", res)
	}
}

// A wrong code says how many tries are left; the last one ends the
// challenge, and the next is held without being compared.
func TestWrongCodesCountDownToTheChallengesEnd(t *testing.T) {
	var wrong int
	c, _ := checker(t, verify.Limits{PerChallenge: 3}, func(verify.Try, verify.Step) { wrong++ })
	try := verify.Try{User: "bob", IP: "192.0.2.1", Challenge: "f1", Code: "000000"}
	for left := 2; left >= 0; left-- {
		res, err := c.Check(t.Context(), try, compareWith("123456"))
		if err != nil || res.Outcome != verify.Wrong || res.Left != left || res.ChallengeOver() != (left == 0) {
			t.Fatalf("%d left: %+v %v", left, res, err)
		}
	}
	try.Code = "123456"
	res, _ := c.Check(t.Context(), try, compareWith("123456"))
	if res.Outcome != verify.Held || !res.ChallengeOver() || wrong != 3 {
		t.Fatalf("the right code after the challenge ended: %+v, %d wrong told", res, wrong)
	}
}

// An unlock code is not governed by the user's own counter and ladder,
// which hold the user; a right one lifts the ladder's hold.
func TestUnlockCodesPassTheUsersHoldAndLiftIt(t *testing.T) {
	c, b := checker(t, verify.Limits{PerUser: 2}, nil)
	ctx := t.Context()
	for i := range 2 {
		if res, _ := c.Check(ctx, verify.Try{User: "bob", Challenge: "f" + string(rune('a'+i)), Code: "000000"}, compareWith("123456")); res.Outcome != verify.Wrong {
			t.Fatalf("wrong code %d: %+v", i+1, res)
		}
	}
	if res, _ := c.Check(ctx, verify.Try{User: "bob", Challenge: "fz", Code: "123456"}, compareWith("123456")); res.Outcome != verify.Held {
		t.Fatalf("the user's counter is spent, yet: %+v", res)
	}
	unlock := verify.Try{User: "bob", Challenge: "unlock/bob", Limit: 5, Window: 24 * time.Hour, Unlocking: true, Code: "654321"}
	if res, err := c.Check(ctx, unlock, compareWith("654321")); err != nil || res.Outcome != verify.Right {
		t.Fatalf("an unlock code while the user is held: %+v %v", res, err)
	}
	if st, _ := c.Ladder("bob").State(ctx, b); st.Streak != 0 {
		t.Fatalf("the ladder after unlocking: %+v", st)
	}
}

// Guessing from many IPv6 addresses of one network is one client: the
// network counter spans the /64, and another /64 has its own.
func TestNetworkCounterSpansAnIPv6Slash64(t *testing.T) {
	c, _ := checker(t, verify.Limits{PerNetwork: 3, PerUser: 50}, nil)
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"} {
		res, _ := c.Check(t.Context(), verify.Try{User: "u" + string(rune('a'+i)), IP: ip, Challenge: "f" + string(rune('a'+i)), Code: "000000"}, compareWith("123456"))
		if res.Outcome != verify.Wrong {
			t.Fatalf("attempt %d from %s: %+v", i+1, ip, res)
		}
	}
	res, _ := c.Check(t.Context(), verify.Try{User: "ud", IP: "2001:db8:1:2:abcd::1", Challenge: "fd", Code: "123456"}, compareWith("123456"))
	if res.Outcome != verify.Held || res.Hold.Counter != "ip" {
		t.Fatalf("a fourth address of the same /64: %+v, want held by the network counter", res)
	}
	if res, _ := c.Check(t.Context(), verify.Try{User: "ue", IP: "2001:db8:1:3::1", Challenge: "fe", Code: "123456"}, compareWith("123456")); res.Outcome != verify.Right {
		t.Fatalf("another /64: %+v", res)
	}
}

// Every try's result is told, by name, for the metrics: a replayed or
// expired code is a wrong one with its reason, never an error.
func TestEveryResultIsToldWithItsReason(t *testing.T) {
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var told []string
	c := verify.NewChecker(b, verify.CheckerConfig{Realm: "t", Limits: verify.Limits{PerChallenge: 4},
		OnResult: func(try verify.Try, result string) { told = append(told, try.Method+":"+result) }})
	answers := []func(context.Context, string) (bool, error){
		compareWith("000000"), // malformed: never compared
		compareWith("000000"),
		func(context.Context, string) (bool, error) { return false, verify.ErrReplay },
		func(context.Context, string) (bool, error) { return false, verify.ErrExpired },
		compareWith("123456"),
		compareWith("123456"), // the challenge's attempts are spent
	}
	codes := []string{"12", "123456", "123456", "123456", "123456", "123456"}
	for i, compare := range answers {
		res, err := c.Check(t.Context(), verify.Try{User: "bob", Challenge: "f1", Code: codes[i], Method: "totp"}, compare)
		if err != nil {
			t.Fatalf("try %d: %v (a reason is not an error)", i, err)
		}
		if i == 2 && res.Outcome != verify.Wrong {
			t.Fatalf("a replay: %v, want Wrong", res.Outcome)
		}
	}
	want := "totp:malformed totp:wrong totp:replay totp:expired totp:success totp:locked"
	if got := strings.Join(told, " "); got != want {
		t.Fatalf("told %q, want %q", got, want)
	}
}
