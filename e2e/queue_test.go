package e2e

import (
	"log/slog"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/notify/queuetest"
	"github.com/caddy2fa/caddy2fa/store"
)

// Two gateway processes with their own connections to one Redis each run
// a mail worker: no email goes out twice.
func TestQueueWorkersOnRedisNeverDoubleSend(t *testing.T) {
	peer := testpeer.Redis(t)
	var conns [2]store.Backend
	for i := range conns {
		c, err := store.OpenRedis(t.Context(), store.RedisOptions{URL: peer.URL(), Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	queuetest.TwoWorkersNeverDoubleSend(t, conns[0], conns[1], notify.QueueOptions{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
}
