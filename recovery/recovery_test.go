package recovery

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/keyring"
)

func testRing(t *testing.T, secrets ...string) *keyring.Ring {
	t.Helper()
	var raw [][]byte
	for _, s := range secrets {
		raw = append(raw, []byte(strings.Repeat(s, 32)))
	}
	r, err := keyring.New(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCodesCarryAtLeastFiftyBitsFromAnUnambiguousAlphabet(t *testing.T) {
	if Bits < 50 {
		t.Fatalf("a code carries %.1f bits, want at least 50", Bits)
	}
	for _, c := range "0O1lIo" {
		if strings.ContainsRune(Alphabet, c) {
			t.Errorf("alphabet holds the look-alike %q", c)
		}
	}
	shown, set := New(testRing(t, "a"), "default", "alice", time.Now())
	if len(shown) != Count || len(set.Codes) != Count || set.Left() != Count {
		t.Fatalf("got %d codes shown, %d stored, %d left", len(shown), len(set.Codes), set.Left())
	}
	seen := map[string]bool{}
	for _, s := range shown {
		if len(s) != Length+1 || s[Length/2] != '-' {
			t.Errorf("code %q is not shown as xxxxx-xxxxx", s)
		}
		if seen[s] {
			t.Errorf("code %q drawn twice", s)
		}
		seen[s] = true
		for _, sum := range set.Codes {
			if strings.Contains(string(sum.Sum), strings.ReplaceAll(s, "-", "")) {
				t.Errorf("the stored set holds code %q in clear", s)
			}
		}
	}
}

func TestEverySymbolIsDrawnAboutEquallyOften(t *testing.T) {
	counts := map[byte]int{}
	const codes = 40000
	for range codes {
		for _, c := range []byte(draw()) {
			counts[c]++
		}
	}
	want := float64(codes*Length) / float64(len(Alphabet))
	for i := 0; i < len(Alphabet); i++ {
		// Taking a byte modulo 43 would draw the last two symbols 16% less
		// often than the rest; random noise is about 1% at this size, so
		// ±7% never fails by chance and still sees that bias.
		if got := float64(counts[Alphabet[i]]); got < 0.93*want || got > 1.07*want {
			t.Errorf("symbol %q drawn %v times, want about %v", Alphabet[i], got, want)
		}
	}
}

func TestNormalizeReadsPastedAndTypedCodes(t *testing.T) {
	for raw, want := range map[string]string{
		"ABCDE-fhjmn":   "ABCDEfhjmn",
		" ABCDE fhjmn ": "ABCDEfhjmn",
		"ABCDEfhjmn":    "ABCDEfhjmn",
	} {
		if got, ok := Normalize(raw); !ok || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"", "123456", "ABCDE-fhjm", "ABCDE-fhjmnn", "ABCDE-fhjm0", "ABCDE_fhjmn", "ABCDE-fhjmñ", strings.Repeat("A", 100)} {
		if got, ok := Normalize(raw); ok {
			t.Errorf("Normalize(%q) = %q, want not a code", raw, got)
		}
	}
}

func TestEachCodeSpendsOnceForItsOwnUserAndRealm(t *testing.T) {
	ring := testRing(t, "a")
	now := time.Now()
	shown, set := New(ring, "default", "alice", now)
	code, _ := Normalize(shown[3])
	other := set
	other.Codes = append([]Code(nil), set.Codes...)
	if other.Spend(ring, "default", "bob", code, now) || other.Spend(ring, "other", "alice", code, now) {
		t.Fatal("alice's code spent for bob or in another realm")
	}
	if !set.Spend(ring, "default", "alice", code, now) {
		t.Fatal("a fresh code was not accepted")
	}
	if set.Spend(ring, "default", "alice", code, now) {
		t.Fatal("a used code was accepted again")
	}
	if set.Left() != Count-1 || set.Codes[3].Used.IsZero() {
		t.Fatalf("after one use: %d left, code 3 used at %v", set.Left(), set.Codes[3].Used)
	}
}

func TestCodesSurviveAKeyRotation(t *testing.T) {
	shown, set := New(testRing(t, "a"), "default", "alice", time.Now())
	code, _ := Normalize(shown[0])
	if !set.Spend(testRing(t, "b", "a"), "default", "alice", code, time.Now()) {
		t.Fatal("a code made before the key rotation was refused")
	}
	if set.Spend(testRing(t, "b"), "default", "alice", code, time.Now()) {
		t.Fatal("a code was accepted after its key left the ring")
	}
}
