package pages

import "net/http"

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

// Refusal is the message of one refusal code; what names the credential
// of a CredentialNotChecked.
func Refusal(code, what string) Message {
	switch code {
	case MalformedPath:
		return Message{
			Title:    "This address can't be opened",
			Lines:    []string{"The address holds characters that aren't allowed in a web address.", "Check the link you followed, or start again from the start page."},
			LinkText: "Go to the start page",
			LinkURL:  "/",
		}
	case MalformedCookie:
		return Message{
			Title: "Your browser sent a malformed cookie",
			Lines: []string{
				"Your sign-in cookie arrived in a form we can't check, so we can't let the request through.",
				"Sign in to the app again. If this page comes back, clear this site's cookies in your browser's settings (or use a private window) and sign in again.",
			},
			LinkText: "Go to the start page",
			LinkURL:  "/",
		}
	}
	return Message{
		Title: "This kind of sign-in can't be used here",
		Lines: []string{
			"The request carried a sign-in (" + what + ") that this site's two-factor check can't verify.",
			"Sign in through the app's own login page instead.",
		},
		LinkText: "Go to the start page",
		LinkURL:  "/",
	}
}

// Refuse answers 400 with the refusal's page, or JSON to anything but a
// browser's navigation.
func (s *Site) Refuse(w http.ResponseWriter, r *http.Request, code, what string) {
	m := Refusal(code, what)
	if !IsNavigation(r) {
		WriteJSON(w, http.StatusBadRequest, APIError{Error: code, Message: m.Lines[0] + " " + m.Lines[1]})
		return
	}
	s.Message(w, http.StatusBadRequest, m)
}
