package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Field names of a "who am I" answer, as LookupConfig.Fields keys them.
const (
	FieldID     = "id"
	FieldEmail  = "email"
	FieldPhone  = "phone"
	FieldName   = "name"
	FieldGroups = "groups"
)

// responseFields holds where each field sits in the JSON answer: a path of
// object keys from the top-level object.
type responseFields struct {
	id, email, phone, name, groups []string
}

var defaultResponseFields = responseFields{
	id:     []string{FieldID},
	email:  []string{FieldEmail},
	phone:  []string{FieldPhone},
	name:   []string{FieldName},
	groups: []string{FieldGroups},
}

// newResponseFields applies renames such as {"id": "user_id"} or, for a
// nested object, {"id": "user.id"}.
func newResponseFields(renames map[string]string) (responseFields, error) {
	f := defaultResponseFields
	for field, key := range renames {
		path, err := fieldPath(key)
		if err != nil {
			return f, fmt.Errorf("identity: field %q: %w", field, err)
		}
		switch field {
		case FieldID:
			f.id = path
		case FieldEmail:
			f.email = path
		case FieldPhone:
			f.phone = path
		case FieldName:
			f.name = path
		case FieldGroups:
			f.groups = path
		default:
			return f, fmt.Errorf("identity: unknown field %q (want id, email, phone, name or groups)", field)
		}
	}
	return f, nil
}

// answer is what a 200 from the who-am-I endpoint said.
type answer int

const (
	answerUser    answer = iota // a logged-in user
	answerGuest                 // nobody: a guest rule matched, or the id is a placeholder
	answerInvalid               // not an answer the gateway can trust either way
)

// decodeResponse reads a "who am I" answer. Only a JSON object counts; a
// guest rule, or an id that is absent, null, "", false or 0, makes it a
// guest. The id may be a JSON string or an integer; any other id (too
// long, control characters, a fraction, an object) makes the answer
// invalid, which callers treat as an error: an answer that cannot be read
// never lets a request through as anonymous. Other fields that are
// missing, of the wrong type or invalid are left empty. Groups may be an
// array of strings or one string of names separated by commas and/or
// whitespace.
func decodeResponse(body []byte, f *responseFields, guests []guestRule) (Identity, answer) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return Identity{}, answerInvalid
	}
	for _, g := range guests {
		if g.matches(top) {
			return Identity{}, answerGuest
		}
	}
	raw := lookupPath(top, f.id)
	if placeholderID(raw) {
		return Identity{}, answerGuest
	}
	var id string
	if s, ok := jsonString(raw); ok {
		id = s
	} else if n, ok := jsonNumber(raw); ok {
		id = n
	}
	id = cleanValue(id, MaxIDLen)
	if id == "" {
		return Identity{}, answerInvalid
	}
	s := func(path []string, max int) string {
		v, _ := jsonString(lookupPath(top, path))
		return cleanValue(v, max)
	}
	return Identity{
		ID:     id,
		Email:  s(f.email, MaxEmailLen),
		Phone:  s(f.phone, MaxPhoneLen),
		Name:   s(f.name, MaxNameLen),
		Groups: jsonGroups(lookupPath(top, f.groups)),
	}, answerUser
}

// lookupPath follows path through nested objects; nil when any step is
// missing or not an object.
func lookupPath(top map[string]json.RawMessage, path []string) json.RawMessage {
	obj := top
	for i, key := range path {
		raw, ok := obj[key]
		if !ok {
			return nil
		}
		if i == len(path)-1 {
			return raw
		}
		obj = nil
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return nil
		}
	}
	return nil
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonNumber accepts integers only: a fractional or exponent form is not
// how any application writes an id, and would compare inexactly.
func jsonNumber(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.ContainsAny(raw, ".eE") {
		return "", false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || raw[0] == '"' {
		return "", false
	}
	return n.String(), true
}

// jsonGroups accepts an array of strings (non-string elements are skipped)
// or a single string of names.
func jsonGroups(raw json.RawMessage) []string {
	if s, ok := jsonString(raw); ok {
		return parseGroups(s)
	}
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil
	}
	if len(elems) > MaxGroups {
		return nil
	}
	var groups []string
	for _, e := range elems {
		if s, ok := jsonString(e); ok {
			groups = appendGroup(groups, s)
		}
	}
	return groups
}
