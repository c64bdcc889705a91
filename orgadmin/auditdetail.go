package orgadmin

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
)

// auditDetail is an event's detail in t's language where it is data the
// pages can read (a method, a deadline, skips left); other details (a
// policy summary, a path) are shown as they were recorded.
func auditDetail(t *locale.Words, e accounts.AuditEvent) string {
	switch e.Action {
	case "enrolled":
		for m, name := range policy.Names {
			if e.Detail == name || e.Detail == m {
				return t.T("method." + m)
			}
		}
	case "setup_postponed", "setup_deadline_extended":
		fields := map[string]string{}
		for _, f := range strings.Fields(e.Detail) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		deadline, err := time.Parse(time.RFC3339, fields["deadline"])
		if err != nil {
			break
		}
		if left, err := strconv.Atoi(fields["skips_left"]); err == nil {
			return t.N("orgadmin.audit.detail.postponed", left, "Date", t.DateTime(deadline))
		}
		return t.T("orgadmin.audit.detail.extended", "Date", t.DateTime(deadline))
	}
	return e.Detail
}
