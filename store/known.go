package store

import (
	"context"
	"maps"
	"sync"
)

// OnceValues hands out each of a set of values once: values read early
// for a request, which serve its first use and then go stale.
type OnceValues struct {
	mu     sync.Mutex
	values map[Key][]byte // a nil value: the key does not exist
}

// NewOnceValues holds a copy of values.
func NewOnceValues(values map[Key][]byte) *OnceValues {
	return &OnceValues{values: maps.Clone(values)}
}

// Take returns the value held for k, once; ok is false the second time
// and for keys never held. A nil OnceValues holds nothing.
func (o *OnceValues) Take(k Key) (value []byte, ok bool) {
	if o == nil {
		return nil, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	value, ok = o.values[k]
	delete(o.values, k)
	return value, ok
}

type knownValuesKey struct{}

// WithKnownValues returns a context telling the backend what the caller
// has just read: the first Update of one of these keys takes its value as
// a guess instead of reading it again (with Redis, one round trip less). A
// guess that is no longer current costs only that attempt: the write is
// refused and Update reads and retries as usual. A nil value means the key
// was absent. Each value serves one Update: after it the caller's own
// write has made it stale.
func WithKnownValues(ctx context.Context, values map[Key][]byte) context.Context {
	return context.WithValue(ctx, knownValuesKey{}, NewOnceValues(values))
}

// knownValue returns, once, the value ctx says k had.
func knownValue(ctx context.Context, k Key) (value []byte, ok bool) {
	kv, _ := ctx.Value(knownValuesKey{}).(*OnceValues)
	return kv.Take(k)
}
