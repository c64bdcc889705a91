package testpeer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Fault is the answer a FaultProxy gives instead of forwarding a request:
// an AWS JSON-protocol error (SES v2's restJson1), its code in the
// X-Amzn-ErrorType header and its message in the body, as AWS sends them.
type Fault struct {
	Status  int
	Code    string
	Message string
}

// Faults SES v2 answers when it is overloaded or failing. The AWS SDK v2
// retries each of them: 429 TooManyRequestsException and 400
// ThrottlingException as throttling (by error code), 500 and 503 as
// transient (by status).
var (
	SESTooManyRequests    = Fault{http.StatusTooManyRequests, "TooManyRequestsException", "Too many requests have been made to the operation."}
	SESThrottling         = Fault{http.StatusBadRequest, "ThrottlingException", "Rate exceeded"}
	SESInternalFailure    = Fault{http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error."}
	SESServiceUnavailable = Fault{http.StatusServiceUnavailable, "ServiceUnavailable", "The service is unavailable. Please try again later."}
)

// FaultProxy is a reverse proxy on 127.0.0.1 in front of a peer that refuses
// requests on command, counted exactly: "refuse the next n", or "refuse
// until Heal". A refused request never reaches the peer.
type FaultProxy struct {
	srv *httptest.Server

	mu       sync.Mutex
	fault    Fault
	left     int  // requests still to refuse when !forever
	forever  bool // refuse until Heal
	passed   int
	refused  int
	requests []ProxiedRequest
	answered func(forwarded int) // see OnAnswer
}

// ProxiedRequest is one request the proxy saw, in arrival order.
type ProxiedRequest struct {
	At      time.Time
	Refused bool
}

// NewFaultProxy starts a proxy to target (a base URL such as
// SESPeer.Endpoint()) that forwards everything until told otherwise, and
// stops it when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("testpeer: fault proxy target %q is not a URL: %v", target, err)
	}
	p := &FaultProxy{}
	forward := httputil.NewSingleHostReverseProxy(u)
	forward.ModifyResponse = func(*http.Response) error {
		p.mu.Lock()
		fn, n := p.answered, p.passed
		p.mu.Unlock()
		if fn != nil {
			fn(n)
		}
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, refuse := p.next(); refuse {
			writeFault(w, f)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's base URL, to use in place of the target's.
func (p *FaultProxy) URL() string { return p.srv.URL }

// FailNext refuses the next n requests with f, then forwards again.
func (p *FaultProxy) FailNext(n int, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.left, p.forever = f, n, false
}

// FailUntilHealed refuses every request with f until Heal.
func (p *FaultProxy) FailUntilHealed(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.left, p.forever = f, 0, true
}

// Heal forwards every request from now on.
func (p *FaultProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left, p.forever = 0, false
}

// OnAnswer calls fn (nil: nothing) each time the target has answered a
// forwarded request, with the count forwarded so far, before the answer
// is passed on: the target has done the work, the client does not know it
// yet. The answer waits for fn to return.
func (p *FaultProxy) OnAnswer(fn func(forwarded int)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answered = fn
}

// Passed is how many requests were forwarded to the target.
func (p *FaultProxy) Passed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.passed
}

// Refused is how many requests were answered with a fault.
func (p *FaultProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// Requests returns every request seen so far, in arrival order.
func (p *FaultProxy) Requests() []ProxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxiedRequest(nil), p.requests...)
}

// next counts one request and says whether to refuse it, and how.
func (p *FaultProxy) next() (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	refuse := p.forever || p.left > 0
	if p.left > 0 {
		p.left--
	}
	if refuse {
		p.refused++
	} else {
		p.passed++
	}
	p.requests = append(p.requests, ProxiedRequest{At: time.Now(), Refused: refuse})
	return p.fault, refuse
}

func writeFault(w http.ResponseWriter, f Fault) {
	body, err := json.Marshal(map[string]string{"message": f.Message})
	if err != nil {
		panic(fmt.Sprintf("testpeer: encoding a fault: %v", err)) // a map of strings always encodes
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", f.Code)
	h.Set("X-Amzn-RequestId", fmt.Sprintf("fault-%d", time.Now().UnixNano()))
	w.WriteHeader(f.Status)
	w.Write(body)
}
