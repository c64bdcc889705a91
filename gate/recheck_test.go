package gate

import (
	"errors"
	"testing"
)

// After a resync an entry is read again; while the store cannot answer
// (a failover), the value known before stands; a value a notification
// forgot never comes back from memory.
func TestResyncRechecksButAFailoverKeepsVerifiedUsersIn(t *testing.T) {
	c := newRechecked[string, uint64](10)
	down := errors.New("store unreachable")
	reads := 0
	load := func(v uint64, err error) func() (uint64, error) {
		return func() (uint64, error) { reads++; return v, err }
	}
	if v, err := c.get("alice", load(1, nil)); v != 1 || err != nil || reads != 1 {
		t.Fatalf("first read: %d %v (%d reads)", v, err, reads)
	}
	if v, _ := c.get("alice", load(9, nil)); v != 1 || reads != 1 {
		t.Fatalf("a cached entry was read again: %d (%d reads)", v, reads)
	}
	c.resync()
	if v, err := c.get("alice", load(0, down)); v != 1 || err != nil || reads != 2 {
		t.Fatalf("after a resync with the store down: %d %v (%d reads), want the known 1", v, err, reads)
	}
	if v, _ := c.get("alice", load(2, nil)); v != 2 || reads != 3 {
		t.Fatalf("after a resync with the store back: %d (%d reads), want the new 2", v, reads)
	}
	if v, _ := c.get("alice", load(7, nil)); v != 2 || reads != 3 {
		t.Fatalf("a rechecked entry was read again: %d (%d reads)", v, reads)
	}
	c.forget("alice") // a notification: alice changed
	if _, err := c.get("alice", load(0, down)); !errors.Is(err, down) {
		t.Fatalf("a forgotten entry with the store down: %v, want the store's error (fail closed)", err)
	}
}
