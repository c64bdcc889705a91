package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/store"
)

// Where the cookie and seed keys live: never in the store, where anyone
// who can read it could forge every session and unseal every TOTP seed.

// A one-node install without keys: the generated key is a file of its own
// beside the store, readable by Caddy's user only, and not in the store.
// legacyKeysKey is where an earlier version kept a generated key, as the
// README names it: <key_prefix>keys/cookie.
var legacyKeysKey = store.Key{Bucket: "keys", ID: "cookie"}

func TestGeneratedKeyIsAFileOfItsOwnNotInTheStore(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(lookupCaddyfile, app))
	c := newClient(t, cp.URL)
	var step int64
	enrollAuthenticator(t, c, "bob", "bob-demo", &step)
	cp.stop()
	fi, err := os.Stat(filepath.Join(dir, "2fa.db.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "2fa.db.key"))
	if _, err := keyring.Parse(string(key)); err != nil {
		t.Fatalf("the key file does not hold a key: %v", err)
	}
	b, err := store.OpenBolt(filepath.Join(dir, "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Get(context.Background(), legacyKeysKey); err == nil {
		t.Fatal("the store holds a key")
	}
	db, _ := os.ReadFile(filepath.Join(dir, "2fa.db"))
	if strings.Contains(string(db), string(key)) {
		t.Fatal("the store file holds the key")
	}
}

// A store written by an earlier version holds its generated key: at start
// it moves to the key file, and what it sealed still opens.
func TestKeyKeptInTheStoreByAnEarlierVersionMovesToItsFile(t *testing.T) {
	app := startDemoApp(t)
	dir := t.TempDir()
	cp := startCaddy(t, dir, withApp(lookupCaddyfile, app))
	c := newClient(t, cp.URL)
	var step int64
	key := enrollAuthenticator(t, c, "bob", "bob-demo", &step)
	cp.stop()
	// As an earlier version left it: the key in the store, no file.
	secret, _ := os.ReadFile(filepath.Join(dir, "2fa.db.key"))
	os.Remove(filepath.Join(dir, "2fa.db.key"))
	b, err := store.OpenBolt(filepath.Join(dir, "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), legacyKeysKey, secret, 0); err != nil {
		t.Fatal(err)
	}
	b.Close()

	cp.start()
	c2 := newClient(t, cp.URL)
	c2.login("bob", "bob-demo", "/reports")
	page, at := c2.follow("/reports")
	if at != "/.2fa/verify/totp" {
		t.Fatalf("after the move: %s, want bob's enrollment kept", at)
	}
	if r := c2.submitCode(page, nextStepCode(t, key, &step)); r.status != http.StatusSeeOther {
		t.Fatalf("bob's authenticator after the move: %d", r.status)
	}
	cp.stop()
	if moved, _ := os.ReadFile(filepath.Join(dir, "2fa.db.key")); string(moved) != string(secret) {
		t.Fatal("the key file does not hold the store's old key")
	}
	b, _ = store.OpenBolt(filepath.Join(dir, "2fa.db"), store.BoltOptions{})
	defer b.Close()
	if _, err := b.Get(context.Background(), legacyKeysKey); err == nil {
		t.Fatal("the old key is still in the store")
	}
}

func TestRedisStoreWithoutKeysIsAConfigError(t *testing.T) {
	r := testpeer.Redis(t)
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	os.WriteFile(cf, []byte(`{
	admin off
	twofactor {
		store redis `+r.URL()+`
	}
}
http://127.0.0.1:0 {
	twofactor
	respond ok
}
`), 0o600)
	cmd := exec.Command(caddyBinary(t), "validate", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "store redis needs keys") || !strings.Contains(string(out), "head -c 32 /dev/urandom") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}

// After enrollments, verifications and trusted devices on two instances,
// nothing in Redis is a key or opens as one.
func TestRedisKeyspaceHoldsNoKeyMaterial(t *testing.T) {
	cl := startCluster(t, 2)
	var step int64
	c := newClient(t, cl.nodes[0].URL)
	key := cl.enroll(c, "alice", "alice-demo", &step)
	other := newClient(t, cl.nodes[1].URL)
	other.login("alice", "alice-demo", "/reports")
	cl.verify(other, "/reports", key, &step, true)

	secret := []string{cl.keys, strings.ReplaceAll(key, " ", "")}
	raw, _ := base64.RawURLEncoding.DecodeString(cl.keys)
	secret = append(secret, string(raw))
	rdb := redis.NewClient(&redis.Options{Addr: cl.redis.Addr(), DisableIdentity: true})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for iter := rdb.Scan(ctx, 0, "*", 1000).Iterator(); iter.Next(ctx); n++ {
		k := iter.Val()
		if strings.Contains(k, "keys/") || strings.HasSuffix(k, ":keys") {
			t.Errorf("a key record in Redis: %s", k)
		}
		var values []string
		switch typ, _ := rdb.Type(ctx, k).Result(); typ {
		case "string":
			v, _ := rdb.Get(ctx, k).Result()
			values = append(values, v)
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				values = append(values, f, v)
			}
		case "zset":
			values = append(values, rdb.ZRange(ctx, k, 0, -1).Val()...)
		case "set":
			values = append(values, rdb.SMembers(ctx, k).Val()...)
		case "list":
			values = append(values, rdb.LRange(ctx, k, 0, -1).Val()...)
		}
		for _, v := range values {
			for _, s := range secret {
				if strings.Contains(v, s) {
					t.Errorf("%s holds key material or a TOTP secret in clear", k)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("nothing in Redis: the test looked at the wrong place")
	}
}
