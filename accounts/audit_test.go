package accounts

import (
	"fmt"
	"testing"
)

func TestAuditLogStaysWithinItsBoundDroppingTheOldest(t *testing.T) {
	defer func(n int64) { maxAuditEvents = n }(maxAuditEvents)
	maxAuditEvents = 20
	b := tempStore(t)
	for i := range 50 {
		if err := Audit(t.Context(), b, "default", AuditEvent{Actor: "a", Action: "x", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	events, err := ListAudit(t.Context(), b, "default", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 20 || events[0].Detail != "49" || events[19].Detail != "30" {
		t.Fatalf("%d events kept, newest %q, oldest %q; want the newest 20", len(events), events[0].Detail, events[len(events)-1].Detail)
	}
}
