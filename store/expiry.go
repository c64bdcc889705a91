package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"go.etcd.io/bbolt"
)

// The Bolt file keeps an index of the values that expire, ordered by
// expiry, so a sweep reads what is due and nothing else. Without it every
// sweep would read the whole file (users never expire, audit entries
// live for months): its time and the pages it keeps mapped would
// grow with the number of users.
//
// Each value that expires has exactly one entry, written and removed with
// the value in the same transaction. The sweep still checks a value has
// its entry's expiry before deleting it.
var (
	// Bucket names and IDs never hold a zero byte (Key.Check), so these
	// names are the store's own.
	expiryBucket = []byte("\x00expiry")
	metaBucket   = []byte("\x00meta")
	// indexedKey, in metaBucket, marks a file whose expiring values are
	// all in the index (written by this version, or indexed once).
	indexedKey = []byte("expiry-index")
)

// expiryKey: the expiry (8 bytes, big-endian, so entries sort by time),
// the bucket name, a zero byte, the ID.
func expiryKey(exp int64, bucket, id []byte) []byte {
	k := make([]byte, 0, 8+len(bucket)+1+len(id))
	k = binary.BigEndian.AppendUint64(k, uint64(exp))
	k = append(k, bucket...)
	k = append(k, 0)
	return append(k, id...)
}

func parseExpiryKey(k []byte) (exp int64, bucket, id []byte, ok bool) {
	if len(k) < 8 {
		return 0, nil, nil, false
	}
	bucket, id, ok = bytes.Cut(k[8:], []byte{0})
	return int64(binary.BigEndian.Uint64(k)), bucket, id, ok && len(bucket) > 0 && len(id) > 0
}

// putValue writes a value with its expiry header, and moves its index
// entry to the new expiry.
func putValue(tx *bbolt.Tx, bk *bbolt.Bucket, bucket, id string, value []byte, exp int64) error {
	if err := reindex(tx, bk, bucket, id, exp); err != nil {
		return err
	}
	return bk.Put([]byte(id), encode(value, exp))
}

// deleteValue deletes a value and its index entry, and its bucket when
// that leaves it empty (buckets per user, such as a user's devices, come
// and go).
func deleteValue(tx *bbolt.Tx, bk *bbolt.Bucket, bucket, id string) error {
	if err := reindex(tx, bk, bucket, id, 0); err != nil {
		return err
	}
	if err := bk.Delete([]byte(id)); err != nil {
		return err
	}
	if k, _ := bk.Cursor().First(); k == nil {
		return tx.DeleteBucket([]byte(bucket))
	}
	return nil
}

// reindex replaces the index entry of the value at id (if it expires) by
// one for exp (0: none), before the value is rewritten or deleted.
func reindex(tx *bbolt.Tx, bk *bbolt.Bucket, bucket, id string, exp int64) error {
	_, old, err := decode(bk.Get([]byte(id)))
	if err != nil {
		old = 0 // a corrupt value is replaced; it has no entry to find
	}
	if old == exp {
		return nil
	}
	ix, err := tx.CreateBucketIfNotExists(expiryBucket)
	if err != nil {
		return err
	}
	if old != 0 {
		if err := ix.Delete(expiryKey(old, []byte(bucket), []byte(id))); err != nil {
			return err
		}
	}
	if exp == 0 {
		return nil
	}
	k := expiryKey(exp, []byte(bucket), []byte(id))
	// Entries of one lifetime arrive in expiry order: appended pages can
	// be filled, as in writeBucket.
	if last, _ := ix.Cursor().Last(); last == nil || bytes.Compare(last, k) < 0 {
		ix.FillPercent = 0.9
	}
	return ix.Put(k, []byte{})
}

// sweepBatch bounds how many index entries one sweep transaction handles,
// so the sweeper never holds the write lock for long.
const sweepBatch = 1000

// Sweep deletes the values that have expired (and buckets they leave
// empty), and reports how many it deleted. The background sweeper calls
// it; it is exported for maintenance tools. It reads only the index
// entries that are due.
func (b *Bolt) Sweep() (int, error) {
	deleted := 0
	for {
		var due [][]byte
		now := time.Now()
		err := b.view("sweep", func(tx *bbolt.Tx) error {
			ix := tx.Bucket(expiryBucket)
			if ix == nil {
				return nil
			}
			c := ix.Cursor()
			for k, _ := c.First(); k != nil && len(due) < sweepBatch; k, _ = c.Next() {
				if exp, _, _, ok := parseExpiryKey(k); ok && live(exp, now) {
					break // in expiry order: nothing after this is due
				}
				due = append(due, bytes.Clone(k))
			}
			return nil
		})
		if err != nil || len(due) == 0 {
			return deleted, err
		}
		n := 0
		err = b.update("sweep", func(tx *bbolt.Tx) error {
			ix := tx.Bucket(expiryBucket)
			for _, k := range due {
				if err := ix.Delete(k); err != nil {
					return err
				}
				exp, bucket, id, ok := parseExpiryKey(k)
				if !ok {
					continue
				}
				bk := tx.Bucket(bucket)
				if bk == nil {
					continue
				}
				// Only the value this entry was written for: it may have
				// been rewritten since, with a later expiry or none.
				if _, cur, err := decode(bk.Get(id)); err != nil || cur != exp {
					continue
				}
				if err := deleteValue(tx, bk, string(bucket), string(id)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		deleted += n
		select {
		case <-b.stop:
			return deleted, nil
		default:
		}
	}
}

// sweepEvery sweeps every interval until Close.
func (b *Bolt) sweepEvery(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			// A failed sweep (full disk, I/O) is retried next tick.
			n, err := b.Sweep()
			if b.onSweep != nil {
				b.onSweep(n, err)
			}
		}
	}
}

// indexExpiries builds the index of a file written before the index
// existed: one full scan, in short transactions, the first time such a file
// is opened.
func (b *Bolt) indexExpiries() error {
	var names [][]byte
	err := b.view("index expiries", func(tx *bbolt.Tx) error {
		if meta := tx.Bucket(metaBucket); meta != nil && meta.Get(indexedKey) != nil {
			return errNoChange
		}
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if name[0] != 0 {
				names = append(names, bytes.Clone(name))
			}
			return nil
		})
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		var from []byte
		for done := false; !done; {
			var entries [][]byte
			err := b.view("index expiries", func(tx *bbolt.Tx) error {
				c := tx.Bucket(name).Cursor()
				k, raw := c.First()
				if from != nil {
					k, raw = c.Seek(from)
				}
				for ; k != nil && len(entries) < 10*sweepBatch; k, raw = c.Next() {
					if _, exp, err := decode(raw); raw != nil && err == nil && exp != 0 {
						entries = append(entries, expiryKey(exp, name, k))
					}
				}
				done, from = k == nil, bytes.Clone(k) // resume at the first key not read
				return nil
			})
			if err != nil {
				return err
			}
			err = b.update("index expiries", func(tx *bbolt.Tx) error {
				ix, err := tx.CreateBucketIfNotExists(expiryBucket)
				if err != nil {
					return err
				}
				for _, e := range entries {
					if err := ix.Put(e, []byte{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return b.update("index expiries", func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		return meta.Put(indexedKey, []byte("1"))
	})
}
