package challenge

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/keyring"
)

// Replay across instances: two gateways on one store accept a TOTP code
// once between them, even when it is submitted to both at the same time.
// (The end-to-end tests do the same with two Caddy processes on Redis.)
func TestReplayAcrossTwoInstancesOneSuccess(t *testing.T) {
	shared := tempStore(t)
	ring, _ := keyring.Parse(keyring.Generate())
	a := newHarnessOn(t, shared, ring)
	b := newHarnessOn(t, shared, ring)
	key := a.browser("alice", "s0").enrollTOTP("/")
	a.advance(30 * time.Second)
	b.advance(30 * time.Second)
	code := a.code(key, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		h := a
		if i%2 == 1 {
			h = b
		}
		br := h.browser("alice", "p"+itoa(int64(i)))
		page := br.follow("/")
		action, csrf := formOf(t, page.body)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := br.do(http.MethodPost, action, url.Values{"csrf": {csrf}, "code": {code}})
			if r.status == http.StatusSeeOther {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("one TOTP code admitted %d sessions across two instances, want 1", wins)
	}
}
