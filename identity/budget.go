package identity

import (
	"net/netip"
	"sync"
	"time"
)

// budget bounds calls to the who-am-I endpoint, per client and in all,
// with token buckets: a flood of random session cookies must not make the
// app rate-limit the gateway (which would then have to refuse everyone),
// and over the bound the answer is "unavailable", never "anonymous".
type budget struct {
	mu          sync.Mutex
	total       bucket
	clients     map[string]*bucket
	perSec      float64 // per client
	burst       float64 // per client
	totalPerSec float64
}

// maxBudgetClients bounds the per-client table; a flood from more
// addresses than this is held by the total bucket.
const maxBudgetClients = 10_000

type bucket struct {
	tokens float64
	last   time.Time
}

func newBudget(clientPerSec, totalPerSec float64) *budget {
	return &budget{
		total:       bucket{tokens: burstOf(totalPerSec)},
		clients:     make(map[string]*bucket),
		perSec:      clientPerSec,
		burst:       burstOf(clientPerSec),
		totalPerSec: totalPerSec,
	}
}

// burstOf lets a bucket hold two seconds' worth: a page with its assets
// comes in a burst.
func burstOf(perSec float64) float64 { return 2 * perSec }

// take spends one call of client's budget and of the total, or reports
// that either is used up.
func (b *budget) take(client string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.clients[client]
	if c == nil {
		if len(b.clients) >= maxBudgetClients {
			b.sweep(now)
		}
		if len(b.clients) >= maxBudgetClients {
			return false
		}
		c = &bucket{tokens: b.burst, last: now}
		b.clients[client] = c
	}
	c.refill(now, b.perSec, b.burst)
	b.total.refill(now, b.totalPerSec, burstOf(b.totalPerSec))
	if c.tokens < 1 || b.total.tokens < 1 {
		return false
	}
	c.tokens--
	b.total.tokens--
	return true
}

// sweep drops clients whose buckets are full again: they are as if new.
func (b *budget) sweep(now time.Time) {
	for k, c := range b.clients {
		if c.refill(now, b.perSec, b.burst); c.tokens >= b.burst {
			delete(b.clients, k)
		}
	}
}

func (c *bucket) refill(now time.Time, perSec, burst float64) {
	if c.last.IsZero() {
		c.last = now
	}
	if d := now.Sub(c.last); d > 0 {
		c.tokens = min(burst, c.tokens+d.Seconds()*perSec)
		c.last = now
	}
}

// ClientKey groups addresses one client controls: an IPv6 /64 is one
// subscriber's network, so counting single IPv6 addresses would give a
// client 2^64 budgets.
func ClientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
