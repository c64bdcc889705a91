package identity

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// credentialKey is the SHA-256 of everything a request forwards to the
// who-am-I endpoint, so the cache never holds a usable token and a change
// of any forwarded value (a new session, another remember-me cookie, an
// Authorization header) is another entry.
type credentialKey [sha256.Size]byte

func keyOf(c Credentials) credentialKey {
	// Room for the usual header without allocating.
	var buf [1024]byte
	b := buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Cookie)))
	b = append(b, c.Cookie...)
	for _, h := range c.Headers {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
		b = append(b, h...)
	}
	return sha256.Sum256(b)
}

type cacheEntry struct {
	key          credentialKey
	id           Identity // zero for "not logged in"
	expires      time.Time
	newer, older *cacheEntry
}

// lruCache is a map plus a doubly linked recency list; the Lookup's mutex
// guards it.
type lruCache struct {
	size           int
	entries        map[credentialKey]*cacheEntry
	newest, oldest *cacheEntry
}

func newLRUCache(size int) lruCache {
	return lruCache{size: size, entries: make(map[credentialKey]*cacheEntry)}
}

// get returns the live entry for key, dropping it when it has expired.
func (c *lruCache) get(key credentialKey, now time.Time) (*cacheEntry, bool) {
	e := c.entries[key]
	if e == nil {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.remove(e)
		return nil, false
	}
	c.touch(e)
	return e, true
}

func (c *lruCache) add(key credentialKey, id Identity, expires time.Time) {
	if e := c.entries[key]; e != nil {
		c.remove(e)
	}
	for len(c.entries) >= c.size && c.oldest != nil {
		c.remove(c.oldest)
	}
	e := &cacheEntry{key: key, id: id, expires: expires}
	c.entries[key] = e
	c.pushNewest(e)
}

func (c *lruCache) forget(key credentialKey) {
	if e := c.entries[key]; e != nil {
		c.remove(e)
	}
}

func (c *lruCache) touch(e *cacheEntry) {
	if c.newest == e {
		return
	}
	c.unlink(e)
	c.pushNewest(e)
}

func (c *lruCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.key)
}

func (c *lruCache) pushNewest(e *cacheEntry) {
	e.older = c.newest
	e.newer = nil
	if c.newest != nil {
		c.newest.newer = e
	}
	c.newest = e
	if c.oldest == nil {
		c.oldest = e
	}
}

func (c *lruCache) unlink(e *cacheEntry) {
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		c.newest = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		c.oldest = e.newer
	}
	e.newer, e.older = nil, nil
}
