package accounts

import (
	"testing"
	"time"
)

func TestFolderStaysWithinItsKeys(t *testing.T) {
	f := NewFolder(time.Minute, 2)
	now := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b"} {
		if _, ok := f.Admit(k, now); !ok {
			t.Fatalf("%s refused", k)
		}
	}
	if _, ok := f.Admit("c", now); ok || len(f.keys) != 2 {
		t.Fatalf("a third key got in while the others are fresh: %d keys", len(f.keys))
	}
	if _, ok := f.Admit("c", now.Add(time.Minute)); !ok || len(f.keys) > 2 {
		t.Fatalf("a third key after the others' window: %d keys", len(f.keys))
	}
}

func TestFolderCountsWhatItFolds(t *testing.T) {
	f := NewFolder(time.Minute, 10)
	now := time.Unix(1_700_000_000, 0)
	f.Admit("a", now)
	for range 5 {
		if _, ok := f.Admit("a", now.Add(time.Second)); ok {
			t.Fatal("a second event within the window got through")
		}
	}
	if n, ok := f.Admit("a", now.Add(time.Minute)); !ok || n != 5 {
		t.Fatalf("after the window: %d folded, %v; want 5, true", n, ok)
	}
}
