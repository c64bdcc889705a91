package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/identity"
)

// appAnswers is what an app's who-am-I endpoint answers, as the app
// documents it, for a logged-in user and for a guest.
type appAnswers struct {
	path, query string    // where the endpoint is
	header      [2]string // a header the endpoint insists on
	user        string    // the answer for the user (200)
	guestStatus int       // and for a guest
	guest       string    //
	want        identity.Identity
}

var documentedApps = map[string]appAnswers{
	"MediaWiki": {
		path: "/api.php", query: "action=query&meta=userinfo&uiprop=email|groups|realname&format=json",
		user:        `{"batchcomplete":"","query":{"userinfo":{"id":2,"name":"Alice","realname":"Alice Liddell","email":"alice@acme.example","groups":["*","user","sysop"]}}}`,
		guestStatus: 200, guest: `{"batchcomplete":"","query":{"userinfo":{"id":0,"name":"203.0.113.9","anon":""}}}`,
		want: identity.Identity{ID: "Alice", Name: "Alice Liddell", Email: "alice@acme.example", Groups: []string{"*", "user", "sysop"}},
	},
	"WordPress": {
		path: "/wp-admin/admin-ajax.php", query: "action=whoami",
		user:        `{"id":1,"email":"alice@acme.example","name":"Alice Liddell","groups":["administrator"]}`,
		guestStatus: 200, guest: `{"id":0}`,
		want: identity.Identity{ID: "1", Name: "Alice Liddell", Email: "alice@acme.example", Groups: []string{"administrator"}},
	},
	"Gitea and Forgejo": {
		path:        "/api/v1/user",
		user:        `{"id":1,"login":"alice","full_name":"Alice Liddell","email":"alice@acme.example","is_admin":true}`,
		guestStatus: 401, guest: `{"message":"token is required"}`,
		want: identity.Identity{ID: "alice", Name: "Alice Liddell", Email: "alice@acme.example"},
	},
	"Grafana": {
		path:        "/api/user",
		user:        `{"id":1,"email":"alice@acme.example","name":"Alice Liddell","login":"alice","theme":"","orgId":1,"isGrafanaAdmin":false}`,
		guestStatus: 401, guest: `{"message":"Unauthorized"}`,
		want: identity.Identity{ID: "alice", Name: "Alice Liddell", Email: "alice@acme.example"},
	},
	"Nextcloud": {
		path: "/ocs/v2.php/cloud/user", query: "format=json", header: [2]string{"OCS-APIRequest", "true"},
		user:        `{"ocs":{"meta":{"status":"ok","statuscode":200,"message":"OK"},"data":{"enabled":true,"id":"alice","email":"alice@acme.example","display-name":"Alice Liddell","groups":["admin","staff"]}}}`,
		guestStatus: 401, guest: `{"ocs":{"meta":{"status":"failure","statuscode":997,"message":"Current user is not logged in"},"data":[]}}`,
		want: identity.Identity{ID: "alice", Name: "Alice Liddell", Email: "alice@acme.example", Groups: []string{"admin", "staff"}},
	},
	"Django": {
		path:        "/whoami/",
		user:        `{"id":"alice","email":"alice@acme.example","name":"Alice Liddell","groups":["staff"]}`,
		guestStatus: 401, guest: `{"error":"not logged in"}`,
		want: identity.Identity{ID: "alice", Name: "Alice Liddell", Email: "alice@acme.example", Groups: []string{"staff"}},
	},
	"Rails": {
		path:        "/whoami",
		user:        `{"id":7,"email":"alice@acme.example","name":"Alice Liddell"}`,
		guestStatus: 401, guest: "",
		want: identity.Identity{ID: "7", Name: "Alice Liddell", Email: "alice@acme.example"},
	},
}

// readmeLookupExamples returns the caddyfile blocks of the README's
// "Identity from your app" section by the heading above each.
func readmeLookupExamples(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Identity from your app\n")
	if !ok {
		t.Fatal(`README has no "Identity from your app" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := map[string]string{}
	var heading string
	for rest := section; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if h, ok := strings.CutPrefix(line, "### "); ok {
			heading = h
		}
		if line == "```caddyfile" {
			block, after, _ := strings.Cut(rest, "\n```")
			blocks[heading] = block
			rest = after
		}
	}
	return blocks
}

func TestReadmeLookupExamplesIdentifyUsersAndGuests(t *testing.T) {
	examples := readmeLookupExamples(t)
	for name := range documentedApps {
		if _, ok := examples[name]; !ok {
			t.Errorf("README has no example for %s", name)
		}
	}
	for name, block := range examples {
		t.Run(name, func(t *testing.T) {
			app, ok := documentedApps[name]
			if !ok {
				t.Fatalf("the README's example for %s has no documented answers here", name)
			}
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("twofactor {\n" + block + "\n}")); err != nil {
				t.Fatal(err)
			}
			l := new(LookupIdentity)
			if err := json.Unmarshal(h.IdentityRaw, l); err != nil {
				t.Fatal(err)
			}
			session := l.Cookie
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != app.path || r.URL.RawQuery != app.query {
					t.Errorf("lookup of %s?%s, the app answers at %s?%s", r.URL.Path, r.URL.RawQuery, app.path, app.query)
				}
				c, err := r.Cookie(session)
				if err != nil || c.Value != "s-user" || app.header[0] != "" && r.Header.Get(app.header[0]) != app.header[1] {
					w.WriteHeader(app.guestStatus)
					w.Write([]byte(app.guest))
					return
				}
				w.Write([]byte(app.user))
			}))
			defer srv.Close()
			u, err := url.Parse(l.URL)
			if err != nil {
				t.Fatal(err)
			}
			l.URL = srv.URL + u.RequestURI()
			if err := l.provision(); err != nil {
				t.Fatal(err)
			}
			h.source = l
			if h.cookies, err = l.CookieReader(h.SessionCookie); err != nil {
				t.Fatal(err)
			}
			for cookie, want := range map[string]identity.Identity{
				session + "=s-user; theme=dark": app.want,
				session + "=s-guest":            {},
				"theme=dark":                    {},
			} {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Cookie", cookie)
				cookies, err := h.cookies.Read(r.Header["Cookie"])
				if err != nil {
					t.Fatal(err)
				}
				got, err := h.Identify(r, cookies, true)
				if err != nil {
					t.Fatalf("%s: %v", cookie, err)
				}
				got.AppSession = ""
				if !reflect.DeepEqual(got, want) && (got.Known() || want.Known()) {
					t.Errorf("%s: %+v, want %+v", cookie, got, want)
				}
			}
		})
	}
}
