package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var updateAdapt = flag.Bool("update-adapt", false, "rewrite the JSON of testdata/*.caddyfiletest from their Caddyfiles")

// Each testdata/*.caddyfiletest is a Caddyfile, a line of dashes, and the
// JSON it adapts to, or the error it is refused with: every option, as an
// operator writes it and as Caddy runs it.
func TestCaddyfileAdaptsToJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, _ := strings.Cut(string(data), "----------")
			caddyfile, expected = strings.TrimSpace(caddyfile)+"\n", strings.TrimSpace(expected)
			if *updateAdapt && !strings.HasPrefix(filepath.Base(path), "error_") {
				out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
				if err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				json.Indent(&pretty, out, "", "\t")
				os.WriteFile(path, []byte(caddyfile+"----------\n"+pretty.String()+"\n"), 0o644)
				return
			}
			if strings.HasPrefix(expected, "{") {
				if !caddytest.CompareAdapt(t, path, caddyfile, "caddyfile", expected) {
					t.Errorf("%s adapts to other JSON", path)
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil || expected == "" || !strings.Contains(err.Error(), expected) {
				t.Errorf("want an error containing %q, got %v", expected, err)
			}
		})
	}
}
