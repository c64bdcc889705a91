package identity

import (
	"encoding/json"
	"fmt"
	"strings"
)

// GuestRule makes a 200 answer of the who-am-I endpoint a guest: real apps
// answer a visitor who is not logged in with a placeholder identity (an id
// of 0, a name that is an IP address, an "anon" flag) rather than a 401.
type GuestRule struct {
	// Field is a dotted path into the answer ("query.userinfo.anon").
	Field string `json:"field"`
	// Value, when set, is what the field must hold (as written in JSON,
	// strings without their quotes: "0", "true", "guest"). Without it the
	// field only has to be there and be neither false nor null.
	Value *string `json:"value,omitempty"`
}

type guestRule struct {
	path  []string
	value *string
}

func newGuestRules(rules []GuestRule) ([]guestRule, error) {
	out := make([]guestRule, 0, len(rules))
	for _, r := range rules {
		path, err := fieldPath(r.Field)
		if err != nil {
			return nil, fmt.Errorf("identity: guest_when: %w", err)
		}
		out = append(out, guestRule{path: path, value: r.Value})
	}
	return out, nil
}

// matches reports whether the answer says guest by this rule.
func (g guestRule) matches(top map[string]json.RawMessage) bool {
	raw := lookupPath(top, g.path)
	if raw == nil {
		return false
	}
	text := strings.TrimSpace(string(raw))
	if g.value == nil {
		return text != "false" && text != "null"
	}
	if s, ok := jsonString(raw); ok {
		return s == *g.value
	}
	return text == *g.value
}

// placeholderID reports whether an id field is what apps send for nobody:
// absent, null, "", false, 0 or "0".
func placeholderID(raw json.RawMessage) bool {
	text := strings.TrimSpace(string(raw))
	switch text {
	case "", "null", "false", `""`, "0", `"0"`:
		return true
	}
	return false
}

// fieldPath splits a dotted path into object keys.
func fieldPath(key string) ([]string, error) {
	var path []string
	for part := range strings.SplitSeq(key, ".") {
		if part == "" {
			return nil, fmt.Errorf("empty key in %q", key)
		}
		path = append(path, part)
	}
	return path, nil
}
