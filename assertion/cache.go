package assertion

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
)

// tokenCache keeps each session's current token until it is half spent.
// Bounded: when full, an arbitrary entry goes (it costs one signature).
type tokenCache struct {
	mu    sync.RWMutex
	m     map[[16]byte]cachedToken
	limit int
}

type cachedToken struct {
	token   string
	expires int64
}

func newTokenCache(limit int) *tokenCache {
	return &tokenCache{m: make(map[[16]byte]cachedToken), limit: limit}
}

// get returns the token for key if it is good at least until until.
func (c *tokenCache) get(key [16]byte, until int64) (string, bool) {
	c.mu.RLock()
	t, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || t.expires < until {
		return "", false
	}
	return t.token, true
}

func (c *tokenCache) put(key [16]byte, token string, expires int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.limit {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cachedToken{token: token, expires: expires}
}

// randomID is a token's jti: 128 random bits.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
