package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// GetJSON reads a JSON value into v; ErrNotFound when absent.
func GetJSON(ctx context.Context, b Backend, k Key, v any) error {
	raw, err := b.Get(ctx, k)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", k.Bucket, err)
	}
	return nil
}

// PutJSON writes v as JSON.
func PutJSON(ctx context.Context, b Backend, k Key, v any, ttl time.Duration) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(ctx, k, raw, ttl)
}

// UpdateJSON atomically edits the JSON record at k. fn gets the current
// value (the zero T and exists=false when absent) and edits it in place; it
// returns the TTL to store it with, or ErrAbort to leave it unchanged, or
// ErrDelete to remove it. The stored value is returned (nil when there is
// none). Like Update's, fn may run more than once and must not call b.
func UpdateJSON[T any](ctx context.Context, b Backend, k Key, fn func(v *T, exists bool) (time.Duration, error)) (*T, error) {
	var out *T
	_, err := b.Update(ctx, k, func(old []byte) ([]byte, time.Duration, error) {
		v := new(T)
		exists := old != nil
		if exists {
			if err := json.Unmarshal(old, v); err != nil {
				return nil, 0, fmt.Errorf("store: decode %s: %w", k.Bucket, err)
			}
		}
		ttl, err := fn(v, exists)
		if errors.Is(err, ErrAbort) {
			// Return what is stored, not fn's edits made before aborting.
			out = nil
			if exists {
				out = new(T)
				if err := json.Unmarshal(old, out); err != nil {
					return nil, 0, fmt.Errorf("store: decode %s: %w", k.Bucket, err)
				}
			}
			return nil, 0, err
		}
		if errors.Is(err, ErrDelete) {
			out = nil
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, 0, err
		}
		out = v
		return raw, ttl, nil
	})
	if err != nil && !errors.Is(err, ErrAbort) {
		return nil, err
	}
	return out, nil
}

// ErrDelete, returned by an UpdateJSON function, deletes the record.
var ErrDelete = errors.New("store: delete record")
