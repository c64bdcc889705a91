package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy2fa/caddy2fa/gate"
)

// FreshPaths asks for a code entered within Within on Paths (a step-up):
// "fresh 10m /payroll/* /admin/*".
type FreshPaths struct {
	// Within is how recent the code must be; at least 1m. Default: none
	// (required).
	Within caddy.Duration `json:"within"`
	// Paths are matched as bypass paths are, on the canonical path; a
	// path some server could read otherwise, or in another case, counts as
	// one of them. Default: none (required).
	Paths []string `json:"paths"`
}

func freshRules(cfg []FreshPaths) ([]gate.FreshRule, error) {
	var out []gate.FreshRule
	for _, c := range cfg {
		r, err := gate.NewFreshRule(time.Duration(c.Within), c.Paths)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// unmarshalFresh reads "fresh <duration> <path>...".
func unmarshalFresh(d *caddyfile.Dispenser, h *Handler) error {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return d.Err("fresh takes a duration and one or more paths: fresh 10m /payroll/*")
	}
	dur, err := caddy.ParseDuration(args[0])
	if err != nil {
		return d.Errf("fresh: bad duration %q: %v", args[0], err)
	}
	paths := args[1:]
	h.Fresh = append(h.Fresh, FreshPaths{Within: caddy.Duration(dur), Paths: paths})
	return nil
}
