package store

import (
	"context"
	"maps"
	"sync"
)

type knownValuesKey struct{}

// knownValues are values a caller has just read, each good for one guess.
type knownValues struct {
	mu     sync.Mutex
	values map[Key][]byte
}

// WithKnownValues returns a context telling the backend what the caller
// has just read: the first Update of one of these keys takes its value as
// a guess instead of reading it again (with Redis, one round trip less). A
// guess that is no longer current costs only that attempt: the write is
// refused and Update reads and retries as usual. A nil value means the key
// was absent. Each value serves one Update: after it the caller's own
// write has made it stale.
func WithKnownValues(ctx context.Context, values map[Key][]byte) context.Context {
	return context.WithValue(ctx, knownValuesKey{}, &knownValues{values: maps.Clone(values)})
}

// knownValue returns, once, the value ctx says k had.
func knownValue(ctx context.Context, k Key) (value []byte, ok bool) {
	kv, _ := ctx.Value(knownValuesKey{}).(*knownValues)
	if kv == nil {
		return nil, false
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	value, ok = kv.values[k]
	delete(kv.values, k)
	return value, ok
}
