package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

func TestRedisURLErrorsHidePassword(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pw"
	ctx := t.Context()
	for _, url := range []string{
		"redis://user:" + secret + "@127.0.0.1:notaport/0",
		"redis://:" + secret + "@127.0.0.1:1/0", // nothing listens on port 1
		"redis://:" + secret + "@127.0.0.1:1,127.0.0.1:2/0?master_name=m",
		"redis://127.0.0.1:1/0?password=" + secret + "&master_name=m",
	} {
		start := time.Now()
		r, err := store.OpenRedis(ctx, store.RedisOptions{URL: url, Timeout: 100 * time.Millisecond})
		if err == nil {
			r.Close()
			t.Errorf("OpenRedis succeeded for an unusable URL")
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the password: %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("OpenRedis took %v to fail", took)
		}
	}
}
