package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
