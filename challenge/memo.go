package challenge

import (
	"strings"
	"sync"
)

// memo is a bounded in-memory map for the hot path's caches (epochs,
// devices, opened session cookies). Change notifications forget entries;
// the generation counter keeps a load that raced with a forget from
// storing a stale value. When full, an arbitrary entry goes: it costs one
// store read or decryption to bring back.
type memo[V any] struct {
	mu    sync.RWMutex
	m     map[string]V
	gen   uint64
	limit int
}

func newMemo[V any](limit int) *memo[V] {
	return &memo[V]{m: make(map[string]V), limit: limit}
}

// get returns the value and the generation to pass to put after a load.
func (c *memo[V]) get(key string) (v V, ok bool, gen uint64) {
	c.mu.RLock()
	v, ok = c.m[key]
	gen = c.gen
	c.mu.RUnlock()
	return v, ok, gen
}

// getBytes is get for a key held in bytes, without allocating a string.
func (c *memo[V]) getBytes(key []byte) (v V, ok bool, gen uint64) {
	c.mu.RLock()
	v, ok = c.m[string(key)]
	gen = c.gen
	c.mu.RUnlock()
	return v, ok, gen
}

// put stores a loaded value unless something was forgotten since gen.
func (c *memo[V]) put(key string, v V, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= c.limit {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	// Keys often point into a request's headers: copy, so an entry does
	// not keep the whole Cookie header alive.
	c.m[strings.Clone(key)] = v
}

func (c *memo[V]) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.gen++
	c.mu.Unlock()
}

func (c *memo[V]) clear() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}
