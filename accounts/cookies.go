package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/keyring"
)

// The records a browser holds: signed and encrypted cookies (HMAC-SHA256 +
// AES-256 from the keyring), HttpOnly, SameSite=Lax, Path=/, and over
// HTTPS Secure with the __Host- prefix, which makes browsers insist on
// those.

// Cookie base names.
const (
	SessionCookie = "2fa_session" // a verified session (Session)
	DeviceCookie  = "2fa_device"  // a trusted device (DeviceRef)
	SeenCookie    = "2fa_seen"    // an app session seen while 2FA was off (SeenNote)
	FlowCookie    = "2fa_flow"    // the open challenge (its id)
	CSRFCookie    = "2fa_csrf"    // the seed of form tokens
)

// maxCookieLen: longer cookie values are ignored before any decoding work.
const maxCookieLen = 2048

// CookieName is base as the browser holds it.
func CookieName(r *http.Request, base string) string { return cookieName(r.TLS != nil, base) }

func cookieName(secure bool, base string) string {
	if secure {
		return "__Host-" + base
	}
	return base
}

// ReadCookie returns the request's cookie of ours called base ("" when it
// has none, or one too long to be ours).
func ReadCookie(r *http.Request, base string) string {
	return ReadOwnCookie(r.Header["Cookie"], r.TLS != nil, base)
}

// ReadOwnCookie is ReadCookie on Cookie header lines of a request that
// came over TLS (secure) or not.
func ReadOwnCookie(lines []string, secure bool, base string) string {
	v := CookieValue(lines, cookieName(secure, base))
	if len(v) > maxCookieLen {
		return ""
	}
	return v
}

// CookieValue finds a cookie in the Cookie headers without parsing them
// all (it runs on every proxied request). Quotes around a value are
// removed; the first cookie of that name wins, as browsers send the most
// specific first.
func CookieValue(lines []string, name string) string {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := strings.TrimRight(part[len(name)+1:], " \t")
				if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v
			}
		}
	}
	return ""
}

// NewCookie is a cookie of ours for the request's scheme; maxAge 0 makes a
// browser-session cookie, a negative one clears it.
func NewCookie(r *http.Request, base, value string, maxAge time.Duration) *http.Cookie {
	return MakeCookie(r.TLS != nil, base, value, maxAge)
}

// MakeCookie is NewCookie for a request that came over TLS (secure) or not.
func MakeCookie(secure bool, base, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: cookieName(secure, base), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.Value, c.MaxAge = "", -1
	}
	return c
}

// SetCookie sets a cookie of ours.
func SetCookie(w http.ResponseWriter, r *http.Request, base, value string, maxAge time.Duration) {
	http.SetCookie(w, NewCookie(r, base, value, maxAge))
}

// ClearCookie removes a cookie of ours.
func ClearCookie(w http.ResponseWriter, r *http.Request, base string) {
	http.SetCookie(w, NewCookie(r, base, "", -1))
}

// RandomToken is n random bytes, base64url.
func RandomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Session is the verified-session cookie: this user of this realm passed
// 2FA for this app session, under this epoch, until Expires.
type Session struct {
	Realm   string `json:"r"`
	User    string `json:"u"`
	App     string `json:"a,omitempty"` // keyed hash of the app session token
	Epoch   uint64 `json:"e"`
	Issued  int64  `json:"i"`
	Expires int64  `json:"x"`
	// Device is the trusted device the session was issued on, if any:
	// revoking the device ends the session too.
	Device string `json:"d,omitempty"`
	// Carried is set on sessions of app sessions that were open before
	// 2FA was turned on: they reach the app, but they never passed 2FA, so
	// they do not open the admin pages.
	Carried bool `json:"c,omitempty"`
	// Passed is when the user last entered a code in this session (zero
	// for a session a trusted device opened): sensitive changes need it
	// recent.
	Passed int64 `json:"p,omitempty"`
	// Method is how the user passed in this session.
	Method string `json:"m,omitempty"`
}

// DeviceRef is the device cookie: which trusted device, of whom, under
// which epoch, until when.
type DeviceRef struct {
	Realm   string `json:"r"`
	User    string `json:"u"`
	Device  string `json:"d"`
	Epoch   uint64 `json:"e"`
	Expires int64  `json:"x"`
}

// SeenNote records an app session seen while 2FA was off: its realm, user,
// app-session binding, the user's epoch then, and when it was first seen.
type SeenNote struct {
	Realm string `json:"r"`
	User  string `json:"u"`
	App   string `json:"a,omitempty"`
	Epoch uint64 `json:"e"`
	Since int64  `json:"t"`
}

// Codec makes and opens one realm's cookies.
type Codec struct {
	ring  *keyring.Ring
	realm string
}

// NewCodec is the cookie codec of a realm.
func NewCodec(ring *keyring.Ring, realm string) Codec { return Codec{ring: ring, realm: realm} }

// Realm is the codec's realm.
func (c Codec) Realm() string { return c.realm }

// AppBinding is the keyed hash a cookie is bound to; "" when the app
// session is not visible (headers, basic_auth).
func (c Codec) AppBinding(appSession string) string {
	if appSession == "" {
		return ""
	}
	sum := c.ring.MAC("app-session", c.realm, appSession)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// BoundTo reports whether binding is appSession's, made with any key of
// the ring: rotating keys must not end every session.
func (c Codec) BoundTo(binding, appSession string) bool {
	if appSession == "" || binding == "" {
		return binding == "" && appSession == ""
	}
	want, err := base64.RawURLEncoding.DecodeString(binding)
	if err != nil || len(want) != 16 {
		return false
	}
	ok := 0
	for _, sum := range c.ring.MACs("app-session", c.realm, appSession) {
		ok |= subtle.ConstantTimeCompare(want, sum[:16])
	}
	return ok == 1
}

// EncodeSession makes a session cookie's value for this realm.
func (c Codec) EncodeSession(s Session) (string, error) {
	s.Realm = c.realm
	return c.ring.EncodeCookie(SessionCookie, s)
}

// OpenSession opens a session cookie of this realm's user for this app
// session (its expiry is the caller's to check).
func (c Codec) OpenSession(raw, user, appSession string) (Session, bool) {
	var s Session
	if c.ring.DecodeCookie(SessionCookie, raw, &s) != nil || s.Realm != c.realm || s.User != user || !c.BoundTo(s.App, appSession) {
		return Session{}, false
	}
	return s, true
}

// EncodeDevice makes a device cookie's value.
func (c Codec) EncodeDevice(d DeviceRef) (string, error) {
	d.Realm = c.realm
	return c.ring.EncodeCookie(DeviceCookie, d)
}

// OpenDevice opens a device cookie of this realm's user. Cookies made
// before they named their realm still open: the device record they point
// to lives in one realm anyway.
func (c Codec) OpenDevice(raw, user string) (DeviceRef, bool) {
	var d DeviceRef
	if c.ring.DecodeCookie(DeviceCookie, raw, &d) != nil || (d.Realm != c.realm && d.Realm != "") || d.User != user {
		return DeviceRef{}, false
	}
	return d, true
}

// EncodeSeen makes a seen note's value.
func (c Codec) EncodeSeen(n SeenNote) (string, error) {
	n.Realm = c.realm
	return c.ring.EncodeCookie(SeenCookie, n)
}

// OpenSeen opens a seen note of this realm's user for this app session.
func (c Codec) OpenSeen(raw, user, appSession string) (SeenNote, bool) {
	var n SeenNote
	if c.ring.DecodeCookie(SeenCookie, raw, &n) != nil || n.Realm != c.realm || n.User != user || !c.BoundTo(n.App, appSession) {
		return SeenNote{}, false
	}
	return n, true
}
