package gate

import (
	"net/http"
	"slices"
	"testing"
)

func TestIdentityHeaderSmugglingSpellingsNormalised(t *testing.T) {
	h, _ := NewHeaders([]string{"X-Remote-User"}, nil, nil)
	spellings := func() *http.Request {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		for _, name := range []string{"X-Remote-User", "X_Remote_User", "x_remote_user", "X-REMOTE-USER", "x-rEmOtE_uSeR"} {
			r.Header[name] = []string{"alice"}
		}
		// Near misses are other headers and stay.
		for _, name := range []string{"X-Remote-Users", "X-Remote-Use", "X-Remote.User", "Remote-User"} {
			r.Header[name] = []string{"keep"}
		}
		return r
	}
	r := spellings()
	h.Strip(r)
	if len(r.Header) != 4 || r.Header.Get("X-Remote-Users") != "keep" {
		t.Fatalf("untrusted client: left %v, want only the four near misses", r.Header)
	}
	// From a trusted peer the header counts, but underscore spellings
	// never do: a CGI upstream would read them as the same variable.
	h, _ = NewHeaders([]string{"X-Remote-User"}, nil, []string{"192.0.2.0/24"})
	r = spellings()
	h.Strip(r)
	var identity []string
	for name := range r.Header {
		if normalizeHeader(name) == "x-remote-user" {
			identity = append(identity, name)
		}
	}
	slices.Sort(identity)
	if want := []string{"X-REMOTE-USER", "X-Remote-User"}; !slices.Equal(identity, want) {
		t.Fatalf("trusted peer: identity headers left %v, want %v", identity, want)
	}
}

// A header the gateway sets goes in every spelling an upstream could
// read as it: a client's X-Twofactor_Assertion would be PHP's
// HTTP_X_TWOFACTOR_ASSERTION.
func TestHeaderSpellingsOfOurHeaderAreAllRemoved(t *testing.T) {
	h := http.Header{"X-Twofactor-Assertion": {"a"}, "X-Twofactor_assertion": {"b"}, "x-TWOFACTOR-assertion": {"c"}, "X-Twofactor-Assertions": {"keep"}, "Accept": {"keep"}}
	NewHeaderSpelling("X-TwoFactor-Assertion").Delete(h)
	if len(h) != 2 || h["Accept"] == nil || h["X-Twofactor-Assertions"] == nil {
		t.Fatalf("left %v", h)
	}
}
