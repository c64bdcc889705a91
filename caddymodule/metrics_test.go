package caddymodule

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// exportedNames are the series names newMetrics registers, with the
// _bucket, _sum and _count of its histograms.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// Registering twice (several handlers) shares the collectors.
	if _, err := newMetrics(reg); err != nil {
		t.Fatalf("a second site's metrics: %v", err)
	}
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	ch := make(chan *prometheus.Desc, 100)
	go func() { reg.Describe(ch); close(ch) }()
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
		if strings.HasSuffix(m[1], "_seconds") && m[1] != "caddy_twofactor_setup_mail_queue_oldest_seconds" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+s] = true
			}
		}
	}
	return names
}

// The dashboard and the alert rules shipped in examples/ name only series
// the gateway exports, and the gateway exports every series an operator
// watches.
func TestDashboardAndAlertsNameOnlyExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	for _, want := range []string{"caddy_twofactor_events_total", "caddy_twofactor_verifications_total", "caddy_twofactor_codes_sent_total",
		"caddy_twofactor_delivery_seconds", "caddy_twofactor_store_errors_total", "caddy_twofactor_store_seconds", "caddy_twofactor_lookup_total",
		"caddy_twofactor_lookup_seconds", "caddy_twofactor_lockouts_total", "caddy_twofactor_challenges_total", "caddy_twofactor_users",
		"caddy_twofactor_trusted_devices", "caddy_twofactor_setup_mail_queue_depth", "caddy_twofactor_setup_mail_queue_oldest_seconds"} {
		if !exported[want] {
			t.Errorf("%s is not exported", want)
		}
	}
	name := regexp.MustCompile(`caddy_twofactor_[a-z_]+`)
	for _, file := range []string{"../examples/grafana/caddy2fa-dashboard.json", "../examples/prometheus/caddy2fa-alerts.yml"} {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := name.FindAllString(string(body), -1)
		if len(found) < 5 {
			t.Fatalf("%s names %d series", filepath.Base(file), len(found))
		}
		for _, n := range found {
			if !exported[n] {
				t.Errorf("%s names %s, which the gateway does not export", filepath.Base(file), n)
			}
		}
	}
}
