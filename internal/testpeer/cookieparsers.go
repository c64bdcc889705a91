package testpeer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// CookieParser is a small app that reads its session cookie
// (legacy_session) the way one web stack does, and answers:
//
//	GET /whoami  200 {"id":"victim"} when the session is the victim's token, else 401
//	GET /secret  200 "secret of the victim" likewise, else 401
//	GET /echo    200 {"session": <the value it read, or null>}
//
// Tests put the two-factor gateway in front of it and check that no
// spelling of the cookie lets the app see a session the gateway did not.
type CookieParser struct {
	Name string // "php", "python", "node", "java", "go"
	URL  string // http://127.0.0.1:PORT
}

// StartCookieParsers starts one parser per stack, each with token as the
// victim's session, and stops them when the test ends.
func StartCookieParsers(t testing.TB, token string) []CookieParser {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "internal", "testpeer", "cookieparsers")
	modules := NodeModules(t)
	requireFile(t, filepath.Join(modules, "cookie", "package.json"), "the npm package cookie")
	php := requirePath(t, "php", "Debian php-cli")
	python := requirePath(t, "python3", "Debian python3")
	java := requirePath(t, "java", "Debian default-jdk-headless")
	node := requireNode(t)
	peers := []CookieParser{{Name: "go", URL: startGoParser(t, token)}}
	for _, p := range []struct {
		name string
		argv func(port int) []string
	}{
		{"php", func(port int) []string {
			return []string{"env", "PEER_TOKEN=" + token, php, "-n", "-S", "127.0.0.1:" + strconv.Itoa(port), "peer.php"}
		}},
		{"python", func(port int) []string { return []string{python, "peer.py", strconv.Itoa(port), token} }},
		{"node", func(port int) []string { return []string{node, "peer.mjs", strconv.Itoa(port), token, modules} }},
		{"java", func(port int) []string { return []string{java, "Peer.java", strconv.Itoa(port), token} }},
	} {
		proc := startProcess(t, p.name+" cookie parser", dir, "/health", p.argv)
		peers = append(peers, CookieParser{Name: p.name, URL: proc.baseURL})
	}
	return peers
}

// startGoParser is the same app with net/http's Request.Cookie.
func startGoParser(t testing.TB, token string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var session *string
		if c, err := r.Cookie("legacy_session"); err == nil {
			session = &c.Value
		}
		victim := session != nil && *session == token
		switch r.URL.Path {
		case "/health":
			w.Write([]byte("ok"))
		case "/echo":
			json.NewEncoder(w).Encode(map[string]*string{"session": session})
		case "/whoami":
			if !victim {
				http.Error(w, `{"error":"not logged in"}`, http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"id":"victim"}`))
		case "/secret":
			if !victim {
				http.Error(w, "please log in", http.StatusUnauthorized)
				return
			}
			w.Write([]byte("secret of the victim"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func requirePath(t testing.TB, name, what string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testpeer: %s is not installed (%s): %s", name, what, installHint)
	}
	return p
}
