// Command jwt prints an HS256 JWT with the claims caddy-security's
// authorize checks (sub, roles, exp), signed with a shared secret: the
// access_token cookie of the benchmark's caddy-security scenario.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"
)

func main() {
	secret := flag.String("secret", "", "shared secret (also in the policy's crypto key verify)")
	sub := flag.String("sub", "bench-user", "subject")
	roles := flag.String("roles", "authp/user", "space-separated roles")
	ttl := flag.Duration("ttl", 2*time.Hour, "lifetime: longer than the benchmark")
	flag.Parse()
	if *secret == "" {
		log.Fatal("jwt: -secret is required")
	}
	now := time.Now()
	claims := map[string]any{
		"sub":   *sub,
		"name":  *sub,
		"email": *sub + "@bench.invalid",
		"roles": strings.Fields(*roles),
		"iat":   now.Unix(),
		"nbf":   now.Add(-time.Minute).Unix(),
		"exp":   now.Add(*ttl).Unix(),
		"iss":   "caddy2fa-bench",
	}
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		log.Fatal(err)
	}
	unsigned := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(*secret))
	mac.Write([]byte(unsigned))
	fmt.Fprintln(os.Stdout, unsigned+"."+enc.EncodeToString(mac.Sum(nil)))
}
