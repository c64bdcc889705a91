package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltOptions tune OpenBolt; the zero value is a good default.
type BoltOptions struct {
	// LockTimeout bounds the wait for the file lock another process (or
	// another Bolt in this one) holds. Default 2s.
	LockTimeout time.Duration
	// SweepInterval is how often expired values are removed from the file.
	// Default 1 minute; negative disables sweeping.
	SweepInterval time.Duration
	// SubscriberBuffer is how many changes a subscriber may fall behind
	// before it gets a ChangeResync instead. Default 64.
	SubscriberBuffer int
	// OnSweep, if set, is called after each background sweep with the
	// number of expired values removed and the error that stopped it, if
	// any (for logs and metrics).
	OnSweep func(deleted int, err error)
}

// Bolt is a Backend in one bbolt file: for a single gateway process. Each
// Key.Bucket is a bbolt bucket; each value is stored behind an 8-byte header
// holding its expiry in Unix nanoseconds (0: none).
type Bolt struct {
	db   *bbolt.DB
	path string

	stop        chan struct{} // closed by Close to end the sweeper
	sweeperDone sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error

	onSweep func(int, error)

	mu         sync.Mutex // guards subs and closed
	subs       map[*subscription]struct{}
	closed     bool
	subsBuffer int
}

var _ Backend = (*Bolt)(nil)

// OpenBolt opens (creating it if needed) the bbolt file at path. The file is
// locked for as long as it is open: a second OpenBolt of the same path fails
// after opts.LockTimeout.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = 64
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w: %w", path, err, ErrUnavailable)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.LockTimeout,
		NoSync:  false, // every committed write is on disk
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is in use by another process or instance (file lock not acquired within %v): %w",
			path, opts.LockTimeout, ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w: %w", path, err, ErrUnavailable)
	}
	b := &Bolt{
		db:         db,
		path:       path,
		stop:       make(chan struct{}),
		subs:       make(map[*subscription]struct{}),
		subsBuffer: opts.SubscriberBuffer,
		onSweep:    opts.OnSweep,
	}
	if err := b.indexExpiries(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.SweepInterval > 0 {
		b.sweeperDone.Go(func() { b.sweepEvery(opts.SweepInterval) })
	}
	return b, nil
}

// Path returns the file the Bolt stores into.
func (b *Bolt) Path() string { return b.path }

// Get implements Backend.
func (b *Bolt) Get(ctx context.Context, k Key) ([]byte, error) {
	if err := begin(ctx, k); err != nil {
		return nil, err
	}
	var out []byte
	err := b.view("get", func(tx *bbolt.Tx) error {
		v, err := liveValue(tx.Bucket([]byte(k.Bucket)), k.ID, time.Now())
		if err != nil {
			return err
		}
		out = bytes.Clone(v) // v lives in the mmap, valid only within tx
		return nil
	})
	return out, err
}

// Put implements Backend.
func (b *Bolt) Put(ctx context.Context, k Key, value []byte, ttl time.Duration) error {
	if err := begin(ctx, k); err != nil {
		return err
	}
	exp, err := expiry(time.Now(), ttl)
	if err != nil {
		return err
	}
	return b.update("put", func(tx *bbolt.Tx) error {
		bk, err := writeBucket(tx, k.Bucket, k.ID)
		if err != nil {
			return err
		}
		return putValue(tx, bk, k.Bucket, k.ID, value, exp)
	})
}

// PutIfAbsent implements Backend.
func (b *Bolt) PutIfAbsent(ctx context.Context, k Key, value []byte, ttl time.Duration) (bool, error) {
	if err := begin(ctx, k); err != nil {
		return false, err
	}
	now := time.Now()
	exp, err := expiry(now, ttl)
	if err != nil {
		return false, err
	}
	err = b.update("put if absent", func(tx *bbolt.Tx) error {
		if _, err := liveValue(tx.Bucket([]byte(k.Bucket)), k.ID, now); !errors.Is(err, ErrNotFound) {
			if err == nil {
				err = errNoChange // present: nothing to write
			}
			return err
		}
		bk, err := writeBucket(tx, k.Bucket, k.ID)
		if err != nil {
			return err
		}
		return putValue(tx, bk, k.Bucket, k.ID, value, exp)
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements Backend.
func (b *Bolt) Delete(ctx context.Context, k Key) error {
	if err := begin(ctx, k); err != nil {
		return err
	}
	err := b.update("delete", func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(k.Bucket))
		if bk == nil || bk.Get([]byte(k.ID)) == nil {
			return errNoChange
		}
		return deleteValue(tx, bk, k.Bucket, k.ID)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// Take implements Backend.
func (b *Bolt) Take(ctx context.Context, k Key) ([]byte, error) {
	if err := begin(ctx, k); err != nil {
		return nil, err
	}
	var out []byte
	err := b.update("take", func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(k.Bucket))
		v, err := liveValue(bk, k.ID, time.Now())
		if err != nil {
			return err
		}
		out = bytes.Clone(v)
		return deleteValue(tx, bk, k.Bucket, k.ID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Update implements Backend. fn runs inside the single write transaction
// that also stores its result, so it is never retried; it must not call
// back into the Bolt (that would deadlock).
func (b *Bolt) Update(ctx context.Context, k Key, fn func(old []byte) ([]byte, time.Duration, error)) ([]byte, error) {
	if err := begin(ctx, k); err != nil {
		return nil, err
	}
	var out []byte
	err := b.update("update", func(tx *bbolt.Tx) error {
		now := time.Now()
		bk := tx.Bucket([]byte(k.Bucket))
		old, err := liveValue(bk, k.ID, now)
		switch {
		case errors.Is(err, ErrNotFound):
			old = nil
		case err != nil:
			return err
		default:
			old = bytes.Clone(old) // fn may keep it past the transaction
		}
		value, ttl, err := fn(old)
		if errors.Is(err, ErrAbort) {
			out = old
			return errNoChange
		}
		if err != nil {
			return fnError{err}
		}
		if value == nil {
			out = nil
			if old == nil {
				return errNoChange
			}
			return deleteValue(tx, bk, k.Bucket, k.ID)
		}
		exp, err := expiry(now, ttl)
		if err != nil {
			return fnError{err}
		}
		if bk == nil {
			if bk, err = writeBucket(tx, k.Bucket, k.ID); err != nil {
				return err
			}
		}
		out = bytes.Clone(value)
		return putValue(tx, bk, k.Bucket, k.ID, value, exp)
	})
	if errors.Is(err, errNoChange) {
		return out, nil
	}
	if fe, ok := errors.AsType[fnError](err); ok {
		return nil, fe.err
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Incr implements Backend. The counter's expiry header is its window end.
func (b *Bolt) Incr(ctx context.Context, k Key, delta int64, window time.Duration) (int64, time.Time, error) {
	if err := begin(ctx, k); err != nil {
		return 0, time.Time{}, err
	}
	if window < 0 {
		return 0, time.Time{}, fmt.Errorf("store: negative window %v", window)
	}
	var count, exp int64
	if delta == 0 {
		// Only a read: no write transaction, no disk sync, and an absent
		// counter stays absent.
		err := b.view("incr", func(tx *bbolt.Tx) error {
			bk := tx.Bucket([]byte(k.Bucket))
			if bk == nil {
				return nil
			}
			old, oldExp, err := decode(bk.Get([]byte(k.ID)))
			if err != nil || old == nil || !live(oldExp, time.Now()) {
				return err
			}
			if count, err = strconv.ParseInt(string(old), 10, 64); err != nil {
				return fnError{fmt.Errorf("store: %s %q is not a counter", k.Bucket, k.ID)}
			}
			exp = oldExp
			return nil
		})
		if fe, ok := errors.AsType[fnError](err); ok {
			return 0, time.Time{}, fe.err
		}
		if err != nil {
			return 0, time.Time{}, err
		}
		return count, boltResetsAt(exp), nil
	}
	err := b.update("incr", func(tx *bbolt.Tx) error {
		now := time.Now()
		bk, err := writeBucket(tx, k.Bucket, k.ID)
		if err != nil {
			return err
		}
		old, oldExp, err := decode(bk.Get([]byte(k.ID)))
		if err != nil {
			return err
		}
		if old != nil && live(oldExp, now) {
			if count, err = strconv.ParseInt(string(old), 10, 64); err != nil {
				return fnError{fmt.Errorf("store: %s %q is not a counter", k.Bucket, k.ID)}
			}
			exp = oldExp
		} else {
			count = 0
			if exp, err = expiry(now, window); err != nil {
				return err
			}
		}
		count += delta
		return putValue(tx, bk, k.Bucket, k.ID, strconv.AppendInt(nil, count, 10), exp)
	})
	if fe, ok := errors.AsType[fnError](err); ok {
		return 0, time.Time{}, fe.err
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, boltResetsAt(exp), nil
}

// boltResetsAt turns a stored expiry into Incr's window end (zero: none).
func boltResetsAt(exp int64) time.Time {
	if exp == 0 {
		return time.Time{}
	}
	return time.Unix(0, exp)
}

// List implements Backend.
func (b *Bolt) List(ctx context.Context, bucket string, after string, limit int, reverse bool) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckBucket(bucket); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("store: list %q: limit must be positive, not %d", bucket, limit)
	}
	limit = min(limit, MaxListLimit)
	var out []Entry
	err := b.view("list", func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		now := time.Now()
		c := bk.Cursor()
		var k, raw []byte
		switch {
		case !reverse && after == "":
			k, raw = c.First()
		case !reverse:
			// Seek finds the first ID >= after; skip after itself.
			if k, raw = c.Seek([]byte(after)); k != nil && string(k) == after {
				k, raw = c.Next()
			}
		case after == "":
			k, raw = c.Last()
		default:
			// Seek finds the first ID >= after, so the one before it is
			// the first below after; when none is >= after, it is the last.
			if k, _ = c.Seek([]byte(after)); k == nil {
				k, raw = c.Last()
			} else {
				k, raw = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, raw = step(c, reverse) {
			if raw == nil {
				continue // a nested bucket: not ours
			}
			v, exp, err := decode(raw)
			if err != nil {
				return err
			}
			if live(exp, now) {
				out = append(out, Entry{ID: string(k), Value: bytes.Clone(v)})
			}
		}
		return nil
	})
	return out, err
}

func step(c *bbolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

// Ping implements Backend.
func (b *Bolt) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.view("ping", func(*bbolt.Tx) error { return nil })
}

// Close stops the sweeper, ends every subscription and closes the file.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.sweeperDone.Wait()
		b.mu.Lock()
		b.closed = true
		for s := range b.subs {
			s.stopAfter()
			close(s.ch)
		}
		b.subs = nil
		b.mu.Unlock()
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("store: close %s: %w: %w", b.path, err, ErrUnavailable)
		}
	})
	return b.closeErr
}

// Publish implements Backend: an in-process fan-out that never waits for a
// subscriber.
func (b *Bolt) Publish(ctx context.Context, c Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("store: publish: %s is closed: %w", b.path, ErrUnavailable)
	}
	for s := range b.subs {
		s.send(c)
	}
	return nil
}

// Subscribe implements Backend.
func (b *Bolt) Subscribe(ctx context.Context) <-chan Change {
	return addSubscriber(ctx, &b.mu, &b.subs, func() bool { return b.closed }, b.subsBuffer)
}

// addSubscriber registers a new subscription in *subs, guarded by mu, and
// removes and closes it when ctx ends (unless the backend's Close, which
// sets *subs to nil, ended it first). Both backends fan out this way.
func addSubscriber(ctx context.Context, mu *sync.Mutex, subs *map[*subscription]struct{}, closed func() bool, buffer int) <-chan Change {
	s := &subscription{ch: make(chan Change, buffer)}
	mu.Lock()
	defer mu.Unlock()
	if closed() {
		close(s.ch)
		return s.ch
	}
	(*subs)[s] = struct{}{}
	s.stopAfter = context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := (*subs)[s]; ok {
			delete(*subs, s)
			close(s.ch)
		}
	})
	return s.ch
}

// subscription is one Subscribe channel. Sends and the close happen under
// Bolt.mu, so a send never meets a closed channel.
type subscription struct {
	ch        chan Change
	stopAfter func() bool // cancels the ctx watch
}

// send delivers c without waiting. When the subscriber is a full buffer
// behind, its backlog (and c) is replaced by one ChangeResync: it has to
// reload everything anyway, so the stale changes are worthless.
func (s *subscription) send(c Change) {
	select {
	case s.ch <- c:
		return
	default:
	}
	for drained := false; !drained; {
		select {
		case <-s.ch:
		default:
			drained = true
		}
	}
	// The buffer is empty now and this is its only sender (under Bolt.mu),
	// so this cannot block; select anyway in case the buffer has no room.
	select {
	case s.ch <- Change{Kind: ChangeResync}:
	default:
	}
}

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

// errNoChange, returned inside a write transaction, rolls it back (sparing
// a commit and its sync) while the operation itself succeeds.
var errNoChange = errors.New("store: no change")

// fnError carries an error that is the caller's (from Update's fn, or a
// caller mistake) through a transaction, so it is not mistaken for an
// I/O failure.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }
func (e fnError) Unwrap() error { return e.err }

func (b *Bolt) view(op string, fn func(*bbolt.Tx) error) error {
	return b.classify(op, b.db.View(fn))
}

func (b *Bolt) update(op string, fn func(*bbolt.Tx) error) error {
	return b.classify(op, b.db.Update(fn))
}

// classify passes through the store's own outcomes and wraps every bbolt
// failure in ErrUnavailable, except those a caller caused (a key or value
// too large), which no retry would fix.
func (b *Bolt) classify(op string, err error) error {
	switch {
	case err == nil,
		errors.Is(err, ErrNotFound),
		errors.Is(err, errNoChange),
		errors.Is(err, ErrUnavailable):
		return err
	case errors.As(err, new(fnError)):
		return err
	case errors.Is(err, bolterrors.ErrKeyTooLarge),
		errors.Is(err, bolterrors.ErrValueTooLarge):
		return fmt.Errorf("store: bolt %s: %w", op, err)
	default:
		return fmt.Errorf("store: bolt %s %s: %w: %w", op, b.path, err, ErrUnavailable)
	}
}

// begin checks what every keyed method checks first.
func begin(ctx context.Context, k Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return k.Check()
}

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
