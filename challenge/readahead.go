package challenge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddy2fa/caddy2fa/store"
)

// A code form's POST reads, one after another, the user, the open
// challenge and the user's lock ladder. readAhead fetches them in one store
// read before the page runs (with Redis, one round trip instead of three).
// Each value is served from it once, when the page first asks; any later
// read of the key goes to the store, so a value the page wrote is never
// read back stale. The first update of each key takes the value read as
// its guess (store.WithKnownValues), which saves its read when nothing
// changed in between.
type readAhead struct{ backend store.Backend }

// readAheadKey holds the request's values read ahead, a *store.OnceValues.
type readAheadKey struct{}

// load returns r carrying keys' values. On a store error it returns r as
// it is: the page's own reads then meet the error and fail closed as they
// always do.
func (ra readAhead) load(r *http.Request, keys ...store.Key) *http.Request {
	values, err := store.GetMany(r.Context(), ra.backend, keys...)
	if err != nil {
		return r
	}
	read := make(map[store.Key][]byte, len(keys))
	for i, k := range keys {
		read[k] = values[i]
	}
	ctx := store.WithKnownValues(r.Context(), read)
	return r.WithContext(context.WithValue(ctx, readAheadKey{}, store.NewOnceValues(read)))
}

// getJSON is store.GetJSON, served from what was read ahead when it can.
func (ra readAhead) getJSON(ctx context.Context, k store.Key, v any) error {
	raw, ok := []byte(nil), false
	if once, _ := ctx.Value(readAheadKey{}).(*store.OnceValues); once != nil {
		raw, ok = once.Take(k)
	}
	if !ok {
		var err error
		if raw, err = ra.backend.Get(ctx, k); err != nil {
			return err
		}
	}
	if raw == nil {
		return store.ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", k.Bucket, err)
	}
	return nil
}
