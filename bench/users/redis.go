package main

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var reCmdStat = regexp.MustCompile(`(?m)^cmdstat_([a-z|]+):calls=(\d+)`)

// redisCalls reads how many times Redis has run each command (commands
// run inside scripts included); nil when no Redis port was given.
func redisCalls(ctx context.Context, port int) (map[string]int64, error) {
	if port == 0 {
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, "redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "INFO", "commandstats").Output()
	if err != nil {
		return nil, fmt.Errorf("redis-cli INFO commandstats: %w", err)
	}
	calls := map[string]int64{}
	for _, m := range reCmdStat.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		calls[m[1]] = n
	}
	return calls, nil
}

// reportCalls prints the Redis commands per operation between two
// readings, busiest first, leaving out the INFO calls that read them.
func reportCalls(name string, n int, before, after map[string]int64) {
	if after == nil {
		return
	}
	type count struct {
		cmd string
		n   int64
	}
	var counts []count
	total := int64(0)
	for cmd, v := range after {
		if d := v - before[cmd]; d > 0 && cmd != "info" {
			counts = append(counts, count{cmd, d})
			total += d
		}
	}
	slices.SortFunc(counts, func(a, b count) int { return int(b.n - a.n) })
	parts := []string{fmt.Sprintf("total=%.2f", float64(total)/float64(n))}
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s=%.2f", c.cmd, float64(c.n)/float64(n)))
	}
	log.Printf("%s: Redis commands per operation: %s", name, strings.Join(parts, " "))
	fmt.Printf("REDIS %s %s\n", name, strings.Join(parts, " "))
}
