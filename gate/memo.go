package gate

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
)

// memo is a bounded in-memory map for the hot path's caches (epochs,
// devices, opened session cookies). Change notifications forget entries;
// the generation counter keeps a load that raced with a forget from
// storing a stale value. When full, an arbitrary entry goes: it costs one
// store read or decryption to bring back.
type memo[K comparable, V any] struct {
	mu    sync.RWMutex
	m     map[K]V
	gen   uint64
	limit int
}

func newMemo[K comparable, V any](limit int) *memo[K, V] {
	return &memo[K, V]{m: make(map[K]V), limit: limit}
}

// get returns the value and the generation to pass to put after a load.
func (c *memo[K, V]) get(key K) (v V, ok bool, gen uint64) {
	c.mu.RLock()
	v, ok = c.m[key]
	gen = c.gen
	c.mu.RUnlock()
	return v, ok, gen
}

// put stores a loaded value unless something was forgotten since gen.
func (c *memo[K, V]) put(key K, v V, gen uint64) {
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
	c.m[owned(key)] = v
}

// owned copies a string key: keys often point into a request's headers,
// and an entry must not keep the whole header block alive.
func owned[K comparable](key K) K {
	if s, ok := any(key).(string); ok {
		return any(strings.Clone(s)).(K)
	}
	return key
}

func (c *memo[K, V]) forget(key K) {
	c.mu.Lock()
	delete(c.m, key)
	c.gen++
	c.mu.Unlock()
}

// keyedDigest makes the fixed-size keys of the caches that stand for
// strings a browser or an app sends: a 128-bit keyed hash (two random
// per-process seeds), the same size whatever was sent, and nothing an
// attacker can aim at.
type keyedDigest [2]maphash.Seed

func newKeyedDigest() *keyedDigest {
	return &keyedDigest{maphash.MakeSeed(), maphash.MakeSeed()}
}

// of hashes the parts in order: each part on its own, then the list of
// those fixed-size sums, so no two different lists hash the same input.
func (d *keyedDigest) of(parts ...string) (k [16]byte) {
	for i, seed := range d {
		var buf [8 * 4]byte // room for the usual parts without allocating
		sums := buf[:0]
		for _, part := range parts {
			sums = binary.LittleEndian.AppendUint64(sums, maphash.String(seed, part))
		}
		binary.LittleEndian.PutUint64(k[8*i:], maphash.Bytes(seed, sums))
	}
	return k
}
