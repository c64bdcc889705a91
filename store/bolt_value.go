package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"
)

// headerLen is the size of the expiry header in front of every value.
const headerLen = 8

func encode(value []byte, expires int64) []byte {
	buf := make([]byte, headerLen+len(value))
	binary.BigEndian.PutUint64(buf, uint64(expires))
	copy(buf[headerLen:], value)
	return buf
}

// decode splits a stored value into payload and expiry. A nil raw (missing
// key) decodes to a nil payload; the payload of a present value is never nil.
func decode(raw []byte) (value []byte, expires int64, err error) {
	if raw == nil {
		return nil, 0, nil
	}
	if len(raw) < headerLen {
		return nil, 0, fmt.Errorf("store: corrupt value (%d bytes): %w", len(raw), ErrUnavailable)
	}
	return raw[headerLen:len(raw):len(raw)], int64(binary.BigEndian.Uint64(raw)), nil
}

func live(expires int64, now time.Time) bool {
	return expires == 0 || now.UnixNano() < expires
}

// writeBucket opens a bucket for writing id, creating it if needed. A
// write that appends (id after every key: audit entries and queue items
// have time-ordered IDs) splits pages 90% full, as nothing will be
// inserted between; any other write keeps bbolt's half-full split, which
// leaves room for records that grow in place (users). Either way the file,
// and the pages of it the process keeps mapped, stay near the data's size.
func writeBucket(tx *bbolt.Tx, name, id string) (*bbolt.Bucket, error) {
	bk, err := tx.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, err
	}
	if last, _ := bk.Cursor().Last(); last == nil || string(last) < id {
		bk.FillPercent = 0.9
	}
	return bk, nil
}

// liveValue returns the payload at id in bk (nil bk: missing bucket), or
// ErrNotFound when it is absent or expired. The payload points into the
// transaction's memory.
func liveValue(bk *bbolt.Bucket, id string, now time.Time) ([]byte, error) {
	if bk == nil {
		return nil, ErrNotFound
	}
	v, exp, err := decode(bk.Get([]byte(id)))
	if err != nil {
		return nil, err
	}
	if v == nil || !live(exp, now) {
		return nil, ErrNotFound
	}
	return v, nil
}

// expiry turns a TTL into the header's expiry: 0 for none.
func expiry(now time.Time, ttl time.Duration) (int64, error) {
	switch {
	case ttl < 0:
		return 0, fmt.Errorf("store: negative TTL %v", ttl)
	case ttl == 0:
		return 0, nil
	}
	n := now.UnixNano()
	if int64(ttl) > math.MaxInt64-n {
		return math.MaxInt64, nil // effectively forever
	}
	return n + int64(ttl), nil
}
