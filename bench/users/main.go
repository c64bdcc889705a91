// Command users drives the real challenge pages of a running Caddy with
// many distinct users, as browsers would (no shortcut through the store):
//
//	users enroll -url URL -n N   enroll N users with TOTP, then one request
//	                             each through the gate (memory benchmark)
//	users verify -url URL -n N   enroll N users, open a new app session for
//	                             each, then time the verification POSTs
//	                             (challenge-path throughput)
//
// Identity comes from a trusted header (-header); -session-cookie names the
// app's session cookie, so a new value needs a new verification.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters the pages announce (RFC 6238 defaults).
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var (
	reKey    = regexp.MustCompile(`id="totp-key">([A-Z2-7 ]+)<`)
	reCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	reAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

type config struct {
	base, header, prefix, appCookie string
	n, workers                      int
	timeout                         time.Duration
	// pprofURL, when set, is Caddy's admin endpoint: a CPU profile is
	// taken while the verification POSTs run.
	pprofURL, pprofOut string
	pprofSeconds       int
	// redisPort, when set, is the Redis server behind Caddy: the commands
	// it ran during the verification POSTs are counted (INFO commandstats).
	redisPort int
}

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: users enroll|verify [flags]")
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	var c config
	fs.StringVar(&c.base, "url", "", "the protected site, e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.header, "header", "X-User", "trusted identity header")
	fs.StringVar(&c.prefix, "prefix", "u", "user id prefix (ids are prefix + number)")
	fs.StringVar(&c.appCookie, "session-cookie", "", "the app's session cookie (verify needs it)")
	fs.IntVar(&c.n, "n", 1000, "number of distinct users")
	fs.IntVar(&c.workers, "workers", 16, "concurrent clients")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.StringVar(&c.pprofURL, "pprof-url", "", "verify: Caddy's admin address, to profile the verification POSTs")
	fs.StringVar(&c.pprofOut, "pprof-out", "verify.cpu.pprof", "verify: where the CPU profile goes")
	fs.IntVar(&c.pprofSeconds, "pprof-seconds", 3, "verify: profile length")
	fs.IntVar(&c.redisPort, "redis-port", 0, "verify: the local Redis Caddy uses, to count its commands per verification (needs redis-cli)")
	fs.Parse(os.Args[2:])
	for _, target := range []string{c.base, c.pprofURL} {
		if target != "" && !local(target) {
			log.Fatalf("%q: only a local http:// address is a target", target)
		}
	}
	c.base = strings.TrimSuffix(c.base, "/")
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var err error
	switch mode {
	case "enroll":
		err = runEnroll(ctx, c)
	case "verify":
		if c.appCookie == "" {
			log.Fatal("verify: -session-cookie is required (a new app session is what needs a new code)")
		}
		err = runVerify(ctx, c)
	default:
		log.Fatalf("unknown mode %q: use enroll or verify", mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// parallel runs fn for each client on c.workers goroutines and returns the
// wall time and each call's latency; it stops at the first error.
func parallel(ctx context.Context, c config, clients []*client, fn func(context.Context, *client) error) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	lat := make([]time.Duration, len(clients))
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range c.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(clients) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := fn(ctx, clients[i]); err != nil {
					once.Do(func() { first = fmt.Errorf("user %s: %w", clients[i].user, err); cancel() })
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return time.Since(start), lat, first
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func makeClients(c config) []*client {
	h := newHTTP(c.workers)
	out := make([]*client, c.n)
	for i := range out {
		out[i] = &client{c: &c, http: h, user: fmt.Sprintf("%s%06d", c.prefix, i), jar: map[string]string{}}
	}
	return out
}

// report prints a human line and a RESULT line the scripts read.
func report(name string, n int, wall time.Duration, lat []time.Duration) {
	rate := float64(n) / wall.Seconds()
	log.Printf("%s: %d in %.1fs: %.0f/s, latency p50 %s ms, p99 %s ms", name, n, wall.Seconds(), rate, ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)))
	fmt.Printf("RESULT %s n=%d seconds=%.2f per_second=%.0f p50_ms=%s p99_ms=%s\n", name, n, wall.Seconds(), rate, ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)))
}

func runEnroll(ctx context.Context, c config) error {
	clients := makeClients(c)
	wall, lat, err := parallel(ctx, c, clients, func(ctx context.Context, cl *client) error {
		if err := cl.enroll(ctx); err != nil {
			return err
		}
		return cl.throughGate(ctx)
	})
	if err != nil {
		return err
	}
	report("enroll", len(clients), wall, lat)
	return nil
}

func runVerify(ctx context.Context, c config) error {
	clients := makeClients(c)
	wall, lat, err := parallel(ctx, c, clients, func(ctx context.Context, cl *client) error { return cl.enroll(ctx) })
	if err != nil {
		return err
	}
	report("enroll", len(clients), wall, lat)

	type form struct{ action, csrf string }
	forms := make([]form, len(clients))
	index := map[*client]int{}
	for i, cl := range clients {
		index[cl] = i
	}
	wall, lat, err = parallel(ctx, c, clients, func(ctx context.Context, cl *client) error {
		a, t, err := cl.startChallenge(ctx)
		forms[index[cl]] = form{a, t}
		return err
	})
	if err != nil {
		return err
	}
	report("challenge_pages", len(clients), wall, lat)

	profiled := make(chan error, 1)
	if c.pprofURL != "" {
		go func() { profiled <- profile(ctx, c) }()
	} else {
		profiled <- nil
	}
	before, err := redisCalls(ctx, c.redisPort)
	if err != nil {
		return err
	}
	wall, lat, err = parallel(ctx, c, clients, func(ctx context.Context, cl *client) error {
		f := forms[index[cl]]
		return cl.verify(ctx, f.action, f.csrf)
	})
	if err != nil {
		return err
	}
	report("verify_post", len(clients), wall, lat)
	after, err := redisCalls(ctx, c.redisPort)
	if err != nil {
		return err
	}
	reportCalls("verify_post", len(clients), before, after)
	if err := <-profiled; err != nil {
		return err
	}

	// Each new session must now reach the app.
	_, _, err = parallel(ctx, c, clients, func(ctx context.Context, cl *client) error { return cl.throughGate(ctx) })
	return err
}

// profile saves a CPU profile of Caddy taken from its admin endpoint.
func profile(ctx context.Context, c config) error {
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(c.pprofURL, "/"), c.pprofSeconds)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: status %d", resp.StatusCode)
	}
	f, err := os.Create(c.pprofOut)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
