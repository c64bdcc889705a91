package challenge

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/accounts"
)

// Any identified user can ask for the admin pages as often as they like,
// with paths as long as the server takes: the audit log keeps one short
// event per user per window.
func TestAdminDeniedFloodBarelyGrowsTheAuditLog(t *testing.T) {
	h, _ := adminHarness(t)
	bob := knownUser(h, "bob")
	long := "/.2fa/admin/" + strings.Repeat("x", 200<<10)
	for range 40 {
		if r := bob.get(long); r.status != http.StatusForbidden {
			t.Fatalf("a non-admin on the admin pages: %d", r.status)
		}
	}
	entries, err := h.backend.List(t.Context(), accounts.Keys{Realm: "default"}.AuditBucket(), "", 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	size, denied := 0, 0
	for _, e := range entries {
		size += len(e.Value)
		if strings.Contains(string(e.Value), "admin_denied") {
			denied++
		}
	}
	if size >= 100<<10 || denied != 1 {
		t.Fatalf("40 refused requests wrote %d bytes of audit log, %d admin_denied events; want < 100 KB, 1", size, denied)
	}
}
