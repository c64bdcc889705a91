// Package store persists caddy2fa's state. A Backend is a small key-value
// contract (buckets of keys, atomic updates, counters, consume-once reads and
// change notifications) that each implementation (bbolt, Redis) satisfies and
// that one conformance suite checks. Records (records.go) is the typed layer
// every other package uses, written once on top of any Backend.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrNotFound: the key does not exist (or has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrUnavailable wraps every failure to reach the backend. Callers fail
	// closed on it: no access is granted when the store cannot answer.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrConflict: an Update lost a race too many times in a row.
	ErrConflict = errors.New("store: conflicting updates")
	// ErrAbort may be returned by an Update function to leave the value
	// unchanged; Update then returns nil.
	ErrAbort = errors.New("store: update aborted")
)

// Key names one value: Bucket groups values of one kind (and one realm),
// ID is unique within the bucket. Neither may be empty or contain NUL;
// any other bytes ('/', ':', spaces, unicode) are fine.
type Key struct {
	Bucket string
	ID     string
}

// Check returns an error when k cannot name a value. Backends reject such
// keys with it before reaching storage (it does not wrap ErrUnavailable).
func (k Key) Check() error {
	if err := CheckBucket(k.Bucket); err != nil {
		return err
	}
	if k.ID == "" || strings.IndexByte(k.ID, 0) >= 0 {
		return fmt.Errorf("store: invalid ID %q in bucket %q", k.ID, k.Bucket)
	}
	return nil
}

// CheckBucket returns an error when name cannot name a bucket.
func CheckBucket(name string) error {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("store: invalid bucket name %q", name)
	}
	return nil
}

// MaxListLimit caps List: a larger limit returns at most this many entries,
// so a page shorter than its limit (up to MaxListLimit) is the last one.
const MaxListLimit = 1000

// Entry is one listed value.
type Entry struct {
	ID    string
	Value []byte
}

// Backend is what an implementation provides. Every method is safe for
// concurrent use, across goroutines and (for shared backends) processes.
// A TTL of zero means "keep until deleted"; a negative TTL is an error.
// Expired values are invisible to every method. Errors reaching the backend
// wrap ErrUnavailable, including every call after Close; an invalid Key
// (see Key.Check) or a cancelled ctx gives an error that does not.
// A stored empty value exists: it reads back as a non-nil empty slice.
type Backend interface {
	// Get returns the value or ErrNotFound.
	Get(ctx context.Context, k Key) ([]byte, error)
	// Put stores the value, replacing any previous one.
	Put(ctx context.Context, k Key, value []byte, ttl time.Duration) error
	// PutIfAbsent stores the value only if the key does not exist and
	// reports whether it did.
	PutIfAbsent(ctx context.Context, k Key, value []byte, ttl time.Duration) (bool, error)
	// Delete removes the key; deleting a missing key is not an error.
	Delete(ctx context.Context, k Key) error
	// Take returns the value and deletes it atomically: of many concurrent
	// callers exactly one gets it, the others get ErrNotFound.
	Take(ctx context.Context, k Key) ([]byte, error)
	// Update reads the current value (nil if absent), calls fn, and writes
	// what fn returns atomically with respect to other writers of the key,
	// retrying fn on conflict. fn returning nil value deletes the key;
	// returning ErrAbort keeps it unchanged (Update then returns the
	// current value and nil); any other error is returned as is. The new
	// TTL is the one fn returns (zero: keep until deleted). Update returns
	// the stored value (nil after a delete). fn may run more than once and
	// may run inside the backend's transaction: it must not call the
	// backend.
	Update(ctx context.Context, k Key, fn func(old []byte) (value []byte, ttl time.Duration, err error)) ([]byte, error)
	// Incr adds delta to a counter that lives for window from its first
	// increment (a fixed window) and returns the new count and when the
	// window ends. A zero window keeps the counter until deleted (resets is
	// then the zero Time). Get reads a counter as its decimal digits; Incr
	// on a value that is not such a number is an error. A delta of 0 only reads: an absent counter stays absent
	// and reads as 0 with a zero resets time.
	Incr(ctx context.Context, k Key, delta int64, window time.Duration) (count int64, resets time.Time, err error)
	// List returns up to limit entries of a bucket in ascending ID order
	// (byte-wise), starting after the ID after ("" for the start), or in
	// descending order before the ID after ("" for the end) when reverse is
	// set. limit must be positive and is capped at MaxListLimit. A missing
	// bucket lists as empty.
	List(ctx context.Context, bucket string, after string, limit int, reverse bool) ([]Entry, error)
	// Publish sends a change notification to every subscriber of this
	// backend, in this process and, for shared backends, in others.
	Publish(ctx context.Context, c Change) error
	// Subscribe delivers change notifications published after it returns,
	// until ctx ends or the backend is closed; then the channel closes. A
	// Change of kind ChangeResync means notifications may have been missed
	// (after a reconnect, or because the subscriber fell behind: Publish
	// never waits for a slow subscriber): subscribers must drop their
	// caches.
	Subscribe(ctx context.Context) <-chan Change
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend. Calling it again does nothing.
	Close() error
}

// ChangeKind says what changed.
type ChangeKind string

const (
	ChangePolicy ChangeKind = "policy" // a realm's org policy
	ChangeUser   ChangeKind = "user"   // a user's epoch, methods or devices
	ChangeDevice ChangeKind = "device" // one trusted device revoked
	ChangeResync ChangeKind = "resync" // notifications may have been lost
)

// Change is one notification.
type Change struct {
	Kind  ChangeKind `json:"kind"`
	Realm string     `json:"realm,omitempty"`
	ID    string     `json:"id,omitempty"`
}
