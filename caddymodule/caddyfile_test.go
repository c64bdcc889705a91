package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/caddy2fa/caddy2fa/identity"
)

func TestUnmarshalHandlerEveryOption(t *testing.T) {
	d := caddyfile.NewTestDispenser(`twofactor {
		identity {
			id     {http.auth.user.id}
			email  {http.request.header.X-Remote-Email}
			phone  {http.request.header.X-Remote-Phone}
			name   {http.request.header.X-Remote-Name}
			groups {http.request.header.X-Remote-Groups}
			headers_from_handler X-Remote-Email
		}
		session_cookie legacy_session
		policy {
			enforce
			methods totp
			remember 30d
		}
		issuer "Acme Corp"
		logo /etc/caddy/acme-logo.svg
		accent 0b7a75
		realm acme
		bypass /healthz /static/*
		path_prefix /.2fa
		session_lifetime 8h
		trusted_proxies 10.0.0.0/8 192.0.2.1
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	var id PlaceholderIdentity
	if err := json.Unmarshal(h.IdentityRaw, &id); err != nil || !strings.Contains(string(h.IdentityRaw), `"source":"placeholders"`) {
		t.Fatalf("identity %s: %v", h.IdentityRaw, err)
	}
	wantID := PlaceholderIdentity{
		ID: "{http.auth.user.id}", Email: "{http.request.header.X-Remote-Email}", Phone: "{http.request.header.X-Remote-Phone}",
		Name: "{http.request.header.X-Remote-Name}", Groups: "{http.request.header.X-Remote-Groups}", HeadersFromHandler: HeaderNames{"X-Remote-Email"},
	}
	if !reflect.DeepEqual(id, wantID) {
		t.Fatalf("identity: got %+v\nwant %+v", id, wantID)
	}
	h.IdentityRaw = nil
	want := Handler{
		SessionCookie:   "legacy_session",
		Policy:          &PolicyConfig{Enforce: true, Methods: []string{"totp"}, Remember: caddy.Duration(30 * 24 * time.Hour)},
		Issuer:          "Acme Corp",
		Logo:            "/etc/caddy/acme-logo.svg",
		Accent:          "0b7a75",
		Realm:           "acme",
		Bypass:          []string{"/healthz", "/static/*"},
		PathPrefix:      "/.2fa",
		SessionLifetime: caddy.Duration(8 * time.Hour),
		TrustedProxies:  []string{"10.0.0.0/8", "192.0.2.1"},
	}
	if !reflect.DeepEqual(&h, &want) {
		t.Fatalf("got  %s\nwant %s", jsonOf(&h), jsonOf(&want))
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUnmarshalIdentityLookup(t *testing.T) {
	d := caddyfile.NewTestDispenser(`twofactor {
		identity lookup http://127.0.0.1:9000/api/me {
			cookie legacy_session
			cookies uid wordpress_logged_in_*
			headers Authorization
			set_header OCS-APIRequest true
			cache 1m
			negative_cache 2s
			timeout 3s
			field id user_id
			guest_when query.userinfo.anon
			guest_when user.id 0
			guest_status 401 403 419
			login_url /login /users/sign_in
			logout_paths /logout
			rate 20 500
			url_session_params sid
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	zero := "0"
	want := &LookupIdentity{
		URL: "http://127.0.0.1:9000/api/me", Cookie: "legacy_session",
		Cookies: []string{"uid", "wordpress_logged_in_*"}, Headers: []string{"Authorization"},
		SetHeaders: map[string]string{"OCS-APIRequest": "true"},
		Cache:      caddy.Duration(time.Minute), NegativeCache: caddy.Duration(2 * time.Second), Timeout: caddy.Duration(3 * time.Second),
		Fields:      map[string]string{"id": "user_id"},
		GuestWhen:   []identity.GuestRule{{Field: "query.userinfo.anon"}, {Field: "user.id", Value: &zero}},
		GuestStatus: []int{401, 403, 419}, LoginURL: []string{"/login", "/users/sign_in"}, LogoutPaths: []string{"/logout"},
		ClientRate: 20, TotalRate: 500, URLSessionParams: []string{"sid"},
	}
	got := new(LookupIdentity)
	if err := json.Unmarshal(h.IdentityRaw, got); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("lookup:\n got %+v\nwant %+v (%v)", got, want, err)
	}
	d = caddyfile.NewTestDispenser("twofactor {\n identity lookup http://x/me {\n cookie s\n negative_cache off\n all_cookies\n }\n}")
	h = Handler{}
	got = new(LookupIdentity)
	if err := h.UnmarshalCaddyfile(d); err != nil || json.Unmarshal(h.IdentityRaw, got) != nil || got.NegativeCache >= 0 || got.Cookies != nil {
		t.Fatalf("negative_cache off, all_cookies: %s, %v", h.IdentityRaw, err)
	}
}

func TestUnmarshalErrorsAreClear(t *testing.T) {
	for in, want := range map[string]string{
		"twofactor {\n colour blue\n}":                                                            "unrecognized twofactor option",
		"twofactor {\n identity lookup http://x/me\n}":                                            "cookie <name>",
		"twofactor {\n identity lookup http://x/me {\n cookie s\n cookies a\n all_cookies\n }\n}": "not both",
		"twofactor {\n identity lookup http://x/me {\n cookie s\n guest_status 200\n }\n}":        "not a 3xx or 4xx",
		"twofactor {\n identity lookup http://x/me {\n cookie s\n rate fast\n }\n}":               "lookups per second",
		"twofactor {\n identity {\n uid x\n }\n}":                                                 "unrecognized identity field",
		"twofactor {\n policy {\n methods\n }\n}":                                                 "wrong argument count",
		"twofactor {\n session_lifetime soon\n}":                                                  "bad duration",
		"twofactor {\n identity {\n id a\n }\n identity {\n id b\n }\n}":                          "identity given twice",
		"twofactor {\n policy {\n enforce yes\n }\n}":                                             "enforce takes no argument but immediately",
		"twofactor extra": "wrong argument count",
		"twofactor {\n identity sideways http://x {\n cookie c\n }\n}": "identity lookup <url>",
		"twofactor {\n bypass\n}":                                      "wrong argument count",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want error containing %q, got %v", in, want, err)
		}
	}
}

func TestValidateRefusesSMSWithoutASender(t *testing.T) {
	h := Handler{Policy: &PolicyConfig{Enforce: true, Methods: []string{"totp", "sms"}}}
	err := newTestApp().addSite(&h)
	if err == nil || !strings.Contains(err.Error(), "SMS") {
		t.Fatalf("want an SMS error, got %v", err)
	}
}

func TestValidateRefusesWildcardInsideBypass(t *testing.T) {
	h := Handler{Bypass: []string{"/a/*/b"}}
	if err := h.Validate(); err == nil {
		t.Fatal("a * inside a bypass path must be refused")
	}
}

func TestUnmarshalGlobalOption(t *testing.T) {
	d := caddyfile.NewTestDispenser(`twofactor {
		store file /var/lib/caddy/2fa.db
		keys {env.TWOFACTOR_KEYS}
	}`)
	v, err := parseGlobal(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(v)
	if !strings.Contains(string(raw), "twofactor") {
		t.Fatalf("global option: %s", raw)
	}
	var a App
	d = caddyfile.NewTestDispenser(`twofactor {
		store file /var/lib/caddy/2fa.db
		keys {env.TWOFACTOR_KEYS}
	}`)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if string(a.StoreRaw) != `{"backend":"file","path":"/var/lib/caddy/2fa.db"}` || a.Keys != "{env.TWOFACTOR_KEYS}" {
		t.Fatalf("app: %s", jsonOf(&a))
	}
}

// The examples must adapt, and secrets must stay placeholders in the JSON.
func TestCaddyfileExampleAdapts(t *testing.T) {
	for _, name := range []string{"Caddyfile.example", "Caddyfile.cluster.example"} {
		t.Run(name, func(t *testing.T) { testExampleAdapts(t, name) })
	}
}

func testExampleAdapts(t *testing.T, name string) {
	body, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := adapter.Adapt(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Errorf("warning: %s", w.Message)
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Apps["twofactor"]; !ok {
		t.Fatalf("no twofactor app in %s", out)
	}
	if !strings.Contains(string(out), `"handler":"twofactor"`) {
		t.Fatalf("no twofactor handler in %s", out)
	}
}

func TestSecretsInCaddyfileStayPlaceholders(t *testing.T) {
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`{
		twofactor {
			keys {env.TWOFACTOR_KEYS}
		}
	}
	:8080 {
		twofactor
		respond ok
	}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `{env.TWOFACTOR_KEYS}`) {
		t.Fatalf("the keys placeholder must survive adaptation (resolved at start): %s", out)
	}
}

func jsonOf(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}
