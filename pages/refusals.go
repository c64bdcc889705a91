package pages

import (
	"net/http"

	"github.com/caddy2fa/caddy2fa/locale"
)

// What the gateway refuses before it knows who sent a request, as the
// user reads it. Each code is also the JSON error's name.
const (
	// MalformedPath: control characters in the path, which servers
	// truncate, strip or refuse each in their own way.
	MalformedPath = "malformed_path"
	// MalformedCookie: a Cookie header some common stack could read as the
	// app's session cookie under another spelling.
	MalformedCookie = "malformed_cookie"
	// CredentialNotChecked: a credential the app accepts (an Authorization
	// header, a session id in the URL) that the who-am-I lookup is not
	// given.
	CredentialNotChecked = "credential_not_checked"
)

// Refusal is the message of one refusal code, in t's language; what
// names the credential of a CredentialNotChecked.
func Refusal(t *locale.Words, code, what string) Message {
	key := "pages.refused.credential"
	switch code {
	case MalformedPath:
		key = "pages.refused.path"
	case MalformedCookie:
		key = "pages.refused.cookie"
	}
	return Message{
		Title:    t.T(key + ".title"),
		Lines:    []string{t.T(key+".line1", "What", what), t.T(key + ".line2")},
		LinkText: t.T("pages.refused.link"),
		LinkURL:  "/",
	}
}

// Refuse answers 400 with the refusal's page, or JSON to anything but a
// browser's navigation.
func (s *Site) Refuse(w http.ResponseWriter, r *http.Request, code, what string) {
	m := Refusal(s.Words(r), code, what)
	if !IsNavigation(r) {
		WriteJSON(w, http.StatusBadRequest, APIError{Error: code, Message: m.Lines[0] + " " + m.Lines[1]})
		return
	}
	s.Message(w, r, http.StatusBadRequest, m)
}
