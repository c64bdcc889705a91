package e2e

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

// The soak: two instances on Sentinel, users signing in and out, a
// failover every soakFailoverEvery, one Caddy restart. Its short form runs
// in every test run; bench/soak.sh runs it for ten minutes and keeps the
// report and the plot.
var (
	soakFor = flag.Duration("soak", 40*time.Second, "how long the soak runs")
	soakOut = flag.String("soak-out", "", "folder for the soak's report and plot (none when empty)")
)

const soakFailoverEvery = 2 * time.Minute

// soakStats are the soak's counters, overall and per second.
type soakStats struct {
	mu                                    sync.Mutex
	started                               time.Time
	seconds                               []soakSecond
	events                                []string
	requests, passed, unavailable, failed atomic.Int64
	unverifiedHits, doubleAccepted        atomic.Int64
	lostEnrollments, enrollments          atomic.Int64
	signIns                               atomic.Int64
}

type soakSecond struct{ ok, unavailable, failed int }

func (s *soakStats) count(status int, err error, ok bool) {
	s.requests.Add(1)
	i := int(time.Since(s.started) / time.Second)
	s.mu.Lock()
	for len(s.seconds) <= i {
		s.seconds = append(s.seconds, soakSecond{})
	}
	switch {
	case ok:
		s.passed.Add(1)
		s.seconds[i].ok++
	case err == nil && status == http.StatusServiceUnavailable:
		s.unavailable.Add(1)
		s.seconds[i].unavailable++
	default:
		s.failed.Add(1)
		s.seconds[i].failed++
	}
	s.mu.Unlock()
}

func (s *soakStats) event(what string) {
	s.mu.Lock()
	s.events = append(s.events, fmt.Sprintf("%.0f %s", time.Since(s.started).Seconds(), what))
	s.mu.Unlock()
}

func TestSoakTwoInstancesThroughFailoversAndARestart(t *testing.T) {
	const users, unverified, workers = 200, 10, 12
	sentinels := testpeer.RedisSentinel(t)
	// One replica's ack: a kill every two minutes with wait_replicas 2
	// would fail sign-ins closed until each killed node is back.
	rig := startHARig(t, users+unverified, sentinels.URL(), "wait_replicas 1")
	st := &soakStats{started: time.Now()}
	// Resident memory is first read once the instances are warm: a tenth
	// of the way (and as long after the restart for the second).
	var rssStart [2]int64
	warm := *soakFor / 10
	stop := make(chan struct{})
	var wg sync.WaitGroup
	people := rig.users[:users]
	for w := range workers {
		loop(&wg, stop, func() {
			u := people[rand.IntN(len(people))]
			if !u.busy.CompareAndSwap(false, true) {
				return
			}
			defer u.busy.Store(false)
			rig.soakVisit(st, u, w)
		})
	}
	for i, u := range rig.users[users:] {
		if err := u.signIn(rig.base(i)); err != nil {
			t.Fatal(err)
		}
		loop(&wg, stop, func() {
			status, _, _, err := u.do(rig.base(i), http.MethodGet, privatePath(u.name), nil)
			st.count(status, err, err == nil && (status == http.StatusFound || status == http.StatusServiceUnavailable))
			time.Sleep(20 * time.Millisecond)
		})
	}
	hitsBefore := rig.app.hits.Load()

	// The schedule: failovers every two minutes (one in the short form,
	// a third of the way), the restart halfway.
	end := time.Now().Add(*soakFor)
	failoverAt := []time.Duration{}
	for d := soakFailoverEvery; d < *soakFor; d += soakFailoverEvery {
		failoverAt = append(failoverAt, d)
	}
	if len(failoverAt) == 0 {
		failoverAt = []time.Duration{*soakFor / 3}
	}
	restartAt := *soakFor / 2
	restarted := false
	for n := 0; time.Now().Before(end); {
		elapsed := time.Since(st.started)
		switch {
		case rssStart[0] == 0 && elapsed >= warm:
			rssStart[0] = rssKB(t, rig.nodes[0])
		case restarted && rssStart[1] == 0 && elapsed >= restartAt+warm:
			rssStart[1] = rssKB(t, rig.nodes[1])
		case n < len(failoverAt) && elapsed >= failoverAt[n]:
			st.event("failover (kill -9 of the master)")
			dead, master := sentinels.KillMaster()
			dead.Start()
			st.event("new master " + master.Addr())
			n++
		case !restarted && elapsed >= restartAt:
			st.event("restart of instance 2")
			rig.nodes[1].restart()
			restarted = true
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	rssEnd := [2]int64{rssKB(t, rig.nodes[0]), rssKB(t, rig.nodes[1])}
	close(stop)
	wg.Wait()
	for _, p := range rig.app.requestsSince(hitsBefore) {
		if strings.HasPrefix(p, "/private-") {
			st.unverifiedHits.Add(1)
		}
	}
	report := st.report(*soakFor, rssStart, rssEnd)
	t.Log("\n" + report)
	if *soakOut != "" {
		if err := os.MkdirAll(*soakOut, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(*soakOut, "soak.md"), []byte(report), 0o644)
		os.WriteFile(filepath.Join(*soakOut, "soak.svg"), []byte(st.plot()), 0o644)
	}
	if n := st.unverifiedHits.Load(); n != 0 {
		t.Errorf("%d requests of unverified users reached the app", n)
	}
	if n := st.doubleAccepted.Load(); n != 0 {
		t.Errorf("%d codes were accepted twice", n)
	}
	if n := st.lostEnrollments.Load(); n != 0 {
		t.Errorf("%d confirmed enrollments were lost", n)
	}
	// Memory: only over a long soak is the growth of instance 1 (never
	// restarted) telling.
	if *soakFor >= 5*time.Minute && rssEnd[0] > rssStart[0]*11/10 {
		t.Errorf("instance 1 grew from %d to %d KiB resident", rssStart[0], rssEnd[0])
	}
}

// soakVisit is one sign-in of u through instance w: enrollment the first
// time, else a code; a few pages; and now and then the same code again on
// the other instance, which must be refused.
func (rig *haRig) soakVisit(st *soakStats, u *haUser, w int) {
	base := rig.base(w)
	st.signIns.Add(1)
	if !u.confirmed {
		if err := u.firstSignIn(base, base); err != nil {
			return // tried again at the next visit, with a code once confirmed
		}
		st.enrollments.Add(1)
	} else {
		code := u.awaitCode()
		ok, err := u.verify(base, code)
		if errors.Is(err, errNotEnrolled) {
			st.lostEnrollments.Add(1)
			u.confirmed, u.key = false, "" // counted once; enrolls anew
			return
		}
		if !ok {
			return
		}
		if rand.IntN(10) == 0 {
			if again, _ := u.verify(rig.base(w+1), code); again {
				st.doubleAccepted.Add(1)
			}
		}
	}
	for range 5 {
		status, _, body, err := u.do(base, http.MethodGet, "/reports", nil)
		st.count(status, err, err == nil && status == http.StatusOK && strings.Contains(body, "Signed in as "+u.name))
	}
}

// rssKB is an instance's resident memory.
func rssKB(t *testing.T, p *caddyProc) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func (s *soakStats) report(d time.Duration, rssStart, rssEnd [2]int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| soak of %v | |\n|---|---|\n", d)
	for _, row := range [][2]string{
		{"requests", strconv.FormatInt(s.requests.Load(), 10)},
		{"passed (app for verified users; challenge or 503 for unverified)", strconv.FormatInt(s.passed.Load(), 10)},
		{"503 while the store was unreachable", strconv.FormatInt(s.unavailable.Load(), 10)},
		{"other failures (an instance restarting, a page other than the app's)", strconv.FormatInt(s.failed.Load(), 10)},
		{"sign-ins", strconv.FormatInt(s.signIns.Load(), 10)},
		{"enrollments confirmed", strconv.FormatInt(s.enrollments.Load(), 10)},
		{"upstream hits of unverified users (must be 0)", strconv.FormatInt(s.unverifiedHits.Load(), 10)},
		{"codes accepted twice (must be 0)", strconv.FormatInt(s.doubleAccepted.Load(), 10)},
		{"confirmed enrollments lost (must be 0)", strconv.FormatInt(s.lostEnrollments.Load(), 10)},
		{"instance 1 resident memory, warm → end", fmt.Sprintf("%d → %d KiB", rssStart[0], rssEnd[0])},
		{"instance 2 resident memory, warm after its restart → end", fmt.Sprintf("%d → %d KiB", rssStart[1], rssEnd[1])},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	b.WriteString("\nEvents (seconds from the start):\n\n")
	for _, e := range s.events {
		b.WriteString("- " + e + "\n")
	}
	return b.String()
}

// plot draws the requests per second that passed, got 503 and failed, with
// the events marked: a small SVG of polylines.
func (s *soakStats) plot() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	const w, h, pad = 800.0, 240.0, 30.0
	peak := 1
	for _, sec := range s.seconds {
		peak = max(peak, sec.ok, sec.unavailable, sec.failed)
	}
	x := func(i int) float64 { return pad + float64(i)*(w-2*pad)/float64(max(1, len(s.seconds)-1)) }
	y := func(v int) float64 { return h - pad - float64(v)*(h-2*pad)/float64(peak) }
	line := func(pick func(soakSecond) int, color string) string {
		var pts []string
		for i, sec := range s.seconds {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(pick(sec))))
		}
		return fmt.Sprintf(`<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, color, strings.Join(pts, " "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><text x="%.0f" y="16">requests per second: passed (green), 503 (orange), failed (red); peak %d/s over %d s</text>`, pad, peak, len(s.seconds))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999"/>`, pad, h-pad, w-pad, h-pad)
	for _, e := range s.events {
		var at float64
		fmt.Sscanf(e, "%f", &at)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#55f" stroke-dasharray="3,3"/>`, x(int(at)), pad, x(int(at)), h-pad)
	}
	b.WriteString(line(func(s soakSecond) int { return s.ok }, "#1a7f37"))
	b.WriteString(line(func(s soakSecond) int { return s.unavailable }, "#d97706"))
	b.WriteString(line(func(s soakSecond) int { return s.failed }, "#b3261e"))
	b.WriteString("</svg>\n")
	return b.String()
}
