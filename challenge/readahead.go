package challenge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/store"
)

// A code form's POST reads, one after another, the user, the open
// challenge and the user's lock ladder. withReadAhead fetches them in one
// store read before the handler runs (with Redis, one round trip instead
// of three). Each value is served from it once, when the handler first
// asks; any later read of the key goes to the store, so a value the
// handler wrote is never read back stale. The first update of each key
// takes the value read as its guess (store.WithKnownValues), which saves
// its read when nothing changed in between.
//
// readAheadKey holds the request's values read ahead, a *store.OnceValues.
type readAheadKey struct{}

// codeFormPaths are the pages whose POSTs check codes.
var codeFormPaths = map[string]bool{
	"/enroll/totp": true, "/verify/totp": true,
	"/enroll/email": true, "/verify/email": true,
	"/enroll/sms": true, "/verify/sms": true,
}

// withReadAhead returns r carrying the records its handler will read. On a
// store error it returns r as it is: the handler's own reads then meet the
// error and fail closed as they always do.
func (s *Service) withReadAhead(r *http.Request, id identity.Identity) *http.Request {
	keys := []store.Key{{Bucket: accounts.Keys{Realm: s.cfg.Realm}.UsersBucket(), ID: id.ID}, s.ladder(id.ID).Key}
	if flowID, ok := s.flowRef(r); ok {
		keys = append(keys, accounts.Keys{Realm: s.cfg.Realm}.Flow(flowID))
	}
	values, err := store.GetMany(r.Context(), s.backend, keys...)
	if err != nil {
		return r
	}
	read := make(map[store.Key][]byte, len(keys))
	for i, k := range keys {
		read[k] = values[i]
	}
	// The first update of each also starts from what was read.
	ctx := store.WithKnownValues(r.Context(), read)
	return r.WithContext(context.WithValue(ctx, readAheadKey{}, store.NewOnceValues(read)))
}

// getMany reads keys as store.GetMany does, taking what was read ahead
// and reading only the rest.
func (s *Service) getMany(ctx context.Context, keys ...store.Key) ([][]byte, error) {
	ra, _ := ctx.Value(readAheadKey{}).(*store.OnceValues)
	out := make([][]byte, len(keys))
	var rest []store.Key
	var at []int
	for i, k := range keys {
		if v, ok := ra.Take(k); ok {
			out[i] = v
			continue
		}
		rest = append(rest, k)
		at = append(at, i)
	}
	if len(rest) == 0 {
		return out, nil
	}
	values, err := store.GetMany(ctx, s.backend, rest...)
	if err != nil {
		return nil, err
	}
	for j, v := range values {
		out[at[j]] = v
	}
	return out, nil
}

// getJSON is store.GetJSON through the read-ahead.
func (s *Service) getJSON(ctx context.Context, k store.Key, v any) error {
	values, err := s.getMany(ctx, k)
	if err != nil {
		return err
	}
	if values[0] == nil {
		return store.ErrNotFound
	}
	if err := json.Unmarshal(values[0], v); err != nil {
		return fmt.Errorf("store: decode %s: %w", k.Bucket, err)
	}
	return nil
}
