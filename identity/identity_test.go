package identity

import (
	"slices"
	"strings"
	"testing"
)

// knownOnly mimics a host replacer that leaves unknown placeholders in
// place.
func knownOnly(values map[string]string) func(string) string {
	return func(s string) string {
		for k, v := range values {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
}

var headerTemplates = Templates{
	ID:     "{http.request.header.X-Remote-User}",
	Email:  "{http.request.header.X-Remote-Email}",
	Phone:  "{http.request.header.X-Remote-Phone}",
	Name:   "{http.request.header.X-Remote-Name}",
	Groups: "{http.request.header.X-Remote-Groups}",
}

func headerValues(id, email, phone, name, groups string) func(string) string {
	return knownOnly(map[string]string{
		"http.request.header.X-Remote-User":   id,
		"http.request.header.X-Remote-Email":  email,
		"http.request.header.X-Remote-Phone":  phone,
		"http.request.header.X-Remote-Name":   name,
		"http.request.header.X-Remote-Groups": groups,
	})
}

func TestResolveTrimsValuesAndPreservesIDCase(t *testing.T) {
	got := headerTemplates.Resolve(headerValues(" Alice ", " alice@acme.example", "+14155550101 ", "\tAlice Liddell ", "ops"))
	want := Identity{ID: "Alice", Email: "alice@acme.example", Phone: "+14155550101", Name: "Alice Liddell", Groups: []string{"ops"}}
	if !equalIdentity(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if !got.Known() {
		t.Fatal("identity with an id is not known")
	}
}

func TestResolveRejectsControlCharacters(t *testing.T) {
	for _, bad := range []string{"ali\nce", "ali\rce", "ali\x00ce", "ali\x7fce", "ali\u0085ce", "ali\u2028ce", "ali\xffce"} {
		got := headerTemplates.Resolve(headerValues("alice", bad, bad, bad, "ops"))
		if got.Email != "" || got.Phone != "" || got.Name != "" {
			t.Errorf("%q accepted: %+v", bad, got)
		}
		if got := headerTemplates.Resolve(headerValues(bad, "", "", "", "")); got.Known() {
			t.Errorf("id %q accepted", bad)
		}
	}
}

func TestResolveRejectsOverlongValues(t *testing.T) {
	for _, tc := range []struct {
		field string
		max   int
		get   func(Identity) string
	}{
		{"id", MaxIDLen, func(id Identity) string { return id.ID }},
		{"email", MaxEmailLen, func(id Identity) string { return id.Email }},
		{"phone", MaxPhoneLen, func(id Identity) string { return id.Phone }},
		{"name", MaxNameLen, func(id Identity) string { return id.Name }},
	} {
		for _, n := range []int{tc.max, tc.max + 1} {
			v := strings.Repeat("a", n)
			values := map[string]string{"id": "alice", "email": "", "phone": "", "name": ""}
			values[tc.field] = v
			got := tc.get(headerTemplates.Resolve(headerValues(values["id"], values["email"], values["phone"], values["name"], "")))
			if accepted := got == v; accepted != (n <= tc.max) {
				t.Errorf("%s of %d bytes: accepted=%v", tc.field, n, accepted)
			}
		}
	}
}

func TestResolveTreatsUnexpandedPlaceholdersAsEmpty(t *testing.T) {
	tmpl := Templates{ID: "{http.auth.user.id}", Email: "{http.auth.user.id}@{http.vars.domain}", Name: "{http.vars.name}"}
	got := tmpl.Resolve(knownOnly(map[string]string{"http.auth.user.id": "alice"}))
	if got.ID != "alice" || got.Email != "" || got.Name != "" {
		t.Fatalf("got %+v", got)
	}
	if got := tmpl.Resolve(func(s string) string { return s }); got.Known() {
		t.Fatalf("unexpanded id accepted: %+v", got)
	}
}

func TestResolveWithoutIDIsNoIdentity(t *testing.T) {
	got := headerTemplates.Resolve(headerValues("", "alice@acme.example", "", "Alice", "ops"))
	if !equalIdentity(got, Identity{}) {
		t.Fatalf("got %+v, want the zero identity", got)
	}
	if got := (Templates{}).Resolve(func(string) string { t.Fatal("expand called"); return "" }); got.Known() {
		t.Fatal("empty templates gave an identity")
	}
}

func TestResolveSplitsGroupsOnCommasAndWhitespace(t *testing.T) {
	got := headerTemplates.Resolve(headerValues("alice", "", "", "", " ops, dev\tadmin ,,general_settings:manager  ops "))
	want := []string{"ops", "dev", "admin", "general_settings:manager"}
	if !slices.Equal(got.Groups, want) {
		t.Fatalf("groups %q, want %q", got.Groups, want)
	}
	if !got.HasGroup("admin") || got.HasGroup("Admin") || got.HasGroup("") {
		t.Fatal("HasGroup is not an exact match")
	}
}

func TestResolveRejectsTooManyOrOverlongGroups(t *testing.T) {
	many := make([]string, MaxGroups+1)
	for i := range many {
		many[i] = "g" + strings.Repeat("x", i)
	}
	if got := headerTemplates.Resolve(headerValues("alice", "", "", "", strings.Join(many, ","))); got.Groups != nil {
		t.Fatalf("%d groups accepted", len(got.Groups))
	}
	if got := headerTemplates.Resolve(headerValues("alice", "", "", "", strings.Join(many[:MaxGroups], ","))); len(got.Groups) != MaxGroups {
		t.Fatalf("%d of %d groups kept", len(got.Groups), MaxGroups)
	}
	long := strings.Repeat("g", MaxGroupLen+1)
	got := headerTemplates.Resolve(headerValues("alice", "", "", "", "ops,"+long+",ali\x00ce"))
	if !slices.Equal(got.Groups, []string{"ops"}) {
		t.Fatalf("groups %q, want only ops", got.Groups)
	}
}

func TestHeaderNamesAreCanonicalAndUnique(t *testing.T) {
	tmpl := Templates{
		ID:     "{http.request.header.x-remote-USER}",
		Email:  "{http.request.header.X-Remote-User}@{http.request.header.x-mail-domain}",
		Name:   "{http.auth.user.name}",
		Groups: "{header.x-groups} {http.request.header.bad name}",
	}
	want := []string{"X-Remote-User", "X-Mail-Domain", "X-Groups"}
	if got := tmpl.HeaderNames(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := (Templates{ID: "{http.auth.user.id}"}).HeaderNames(); got != nil {
		t.Fatalf("got %q, want none", got)
	}
}

func equalIdentity(a, b Identity) bool {
	return a.ID == b.ID && a.Email == b.Email && a.Phone == b.Phone && a.Name == b.Name &&
		slices.Equal(a.Groups, b.Groups) && a.AppSession == b.AppSession
}

func TestSingleHeaderOnlyForOneWholePlaceholder(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{http.request.header.X-User}":                   "X-User",
		"{http.request.header.x-user}":                   "X-User",
		"{http.request.header.X_User}":                   "X_user", // as textproto canonicalises it
		"{http.request.header.X-User}x":                  "",
		"x{http.request.header.X-User}":                  "",
		"{http.request.header.X User}":                   "",
		"{http.request.header.}":                         "",
		"{header.X-User}":                                "", // Caddyfile shorthand: not a runtime placeholder
		"{http.auth.user.id}":                            "",
		"{http.request.header.A}{http.request.header.B}": "",
	} {
		got, ok := SingleHeader(tmpl)
		if got != want || ok != (want != "") {
			t.Errorf("SingleHeader(%q) = %q, %t; want %q", tmpl, got, ok, want)
		}
	}
}

func TestSinglePlaceholderOnlyForOneWholePlaceholder(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{http.auth.user.id}":                 "http.auth.user.id",
		"{http.vars.user}":                    "http.vars.user",
		"{http.auth.user.id}@acme":            "",
		"x{http.auth.user.id}":                "",
		"{http.auth.user.id}{http.vars.user}": "",
		"{}":                                  "",
		"{a b}":                               "",
		`{\{a}`:                               "",
		"http.auth.user.id":                   "",
	} {
		got, ok := SinglePlaceholder(tmpl)
		if got != want || ok != (want != "") {
			t.Errorf("SinglePlaceholder(%q) = %q, %t; want %q", tmpl, got, ok, want)
		}
	}
}
