package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// The JSON of the Redis store's wait for replicas reaches the store's
// options, and what cannot work is refused before anything connects.
func TestRedisStoreWaitForReplicasReachesTheStore(t *testing.T) {
	var s RedisStorage
	raw := `{"url": "redis://10.0.0.5:6379/0", "wait_replicas": 2, "wait_timeout": "750ms"}`
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.opts.WaitReplicas != 2 || s.opts.WaitTimeout != 750*time.Millisecond {
		t.Errorf("store options wait for %d replicas for %v; want 2 for 750ms", s.opts.WaitReplicas, s.opts.WaitTimeout)
	}

	for raw, want := range map[string]string{
		`{"url": "redis://h:6379/0", "wait_replicas": -1}`:                       "cannot be negative",
		`{"url": "redis://h:6379/0", "wait_timeout": "1s"}`:                      "without wait_replicas",
		`{"url": "redis://h:6379/0", "wait_replicas": 1, "wait_timeout": "-1s"}`: "cannot be negative",
	} {
		var bad RedisStorage
		if err := json.Unmarshal([]byte(raw), &bad); err != nil {
			t.Fatal(err)
		}
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of %s = %v; want an error saying %q", raw, err, want)
		}
	}
}
