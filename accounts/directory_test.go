package accounts

import (
	"path/filepath"
	"testing"

	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

func TestParseDirectoryCSVAndJSON(t *testing.T) {
	csvData := "\ufeffid,email,name,phone\nbob,bob@acme.example,Bob,+14155550102\ncarol,carol@acme.example,\"Chen, Carol\",\n"
	got, err := ParseDirectory([]byte(csvData))
	if err != nil || len(got) != 2 || got[1].Name != "Chen, Carol" || got[0].Phone != "+14155550102" {
		t.Fatalf("CSV: %+v %v", got, err)
	}
	got, err = ParseDirectory([]byte(`[{"id":"dave","email":"dave@acme.example"}]`))
	if err != nil || len(got) != 1 || got[0].Email != "dave@acme.example" {
		t.Fatalf("JSON: %+v %v", got, err)
	}
	for _, bad := range []string{"email\nx@y", `[{"email":"x@y"}]`, "id\n\"unterminated", `[{"id":"a\nb"}]`} {
		if _, err := ParseDirectory([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestImportDirectoryKeepsEnrollments(t *testing.T) {
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "d.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	UpdateUser(t.Context(), b, "r", "bob", func(u *User) error {
		u.SetEnrollment(Enrollment{Method: policy.MethodTOTP})
		return nil
	})
	n, err := ImportDirectory(t.Context(), b, "r", []DirectoryEntry{{ID: "bob", Email: "bob@acme.example"}, {ID: "carol", Email: "carol@acme.example"}})
	if err != nil || n != 2 {
		t.Fatalf("import: %d %v", n, err)
	}
	u, _ := GetUser(t.Context(), b, "r", "bob")
	if !u.Enrolled() || u.Email != "bob@acme.example" {
		t.Fatalf("bob: %+v", u)
	}
	if n, _ := ImportDirectory(t.Context(), b, "r", []DirectoryEntry{{ID: "bob", Email: "bob@acme.example"}}); n != 0 {
		t.Fatalf("re-import of the same data changed %d records", n)
	}
}
