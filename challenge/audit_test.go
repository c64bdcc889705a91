package challenge

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
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
	entries, err := h.backend.List(t.Context(), AuditBucket("default"), "", 1000, false)
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

func TestAuditLogStaysWithinItsBoundDroppingTheOldest(t *testing.T) {
	defer func(n int64) { maxAuditEvents = n }(maxAuditEvents)
	maxAuditEvents = 20
	h := newHarness(t)
	for i := range 50 {
		if err := Audit(t.Context(), h.backend, "default", AuditEvent{Actor: "a", Action: "x", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	events, err := ListAudit(t.Context(), h.backend, "default", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 20 || events[0].Detail != "49" || events[19].Detail != "30" {
		t.Fatalf("%d events kept, newest %q, oldest %q; want the newest 20", len(events), events[0].Detail, events[len(events)-1].Detail)
	}
}
