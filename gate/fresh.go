package gate

import (
	"fmt"
	"strings"
	"time"
)

// Step-up paths: parts of the app that want a fresher second factor than
// the session's (payroll, an admin console). They are matched like bypass
// paths, but the other way round where a server might read the path
// differently: a path that is not canonical, or matches in another case,
// counts as matching, so no spelling walks around the step-up.

// FreshRule asks for a 2FA pass within Within on its paths.
type FreshRule struct {
	Within time.Duration
	paths  *Bypass
}

// NewFreshRule checks a rule's paths (as bypass takes them).
func NewFreshRule(within time.Duration, patterns []string) (FreshRule, error) {
	if within < time.Minute {
		return FreshRule{}, fmt.Errorf("fresh %v: use at least 1m", within)
	}
	lower := make([]string, len(patterns))
	for i, p := range patterns {
		lower[i] = strings.ToLower(p)
	}
	b, err := NewBypass(lower)
	if err != nil {
		return FreshRule{}, fmt.Errorf("fresh: %w", err)
	}
	return FreshRule{Within: within, paths: b}, nil
}

// freshWithin is how recent the pass must be for the request's path: the
// strictest rule that matches; ok is false when none does.
func (g *Gate) freshWithin(f *Facts) (within time.Duration, ok bool) {
	if len(g.cfg.Fresh) == 0 {
		return 0, false
	}
	canonical := Canonical(f.RawPath, f.Path)
	raw, path := strings.ToLower(f.RawPath), strings.ToLower(f.Path)
	for _, r := range g.cfg.Fresh {
		if !canonical || r.paths.Matches(raw, path) {
			if !ok || r.Within < within {
				within, ok = r.Within, true
			}
		}
	}
	return within, ok
}

// freshEnough reports whether the session's pass is recent enough: a code
// entered within the duration, in this session (a trusted device's
// session, or an app session carried over from before 2FA, has none).
func (g *Gate) freshEnough(s Passed, within time.Duration) bool {
	return s.At > 0 && !s.Carried && g.realm.now().Unix()-s.At <= int64(within/time.Second)
}
