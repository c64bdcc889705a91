package challenge

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// Cookie base names; over HTTPS they get the __Host- prefix, which makes
// browsers insist on Secure, Path=/ and no Domain.
const (
	sessionCookie = "2fa_session"
	flowCookie    = "2fa_flow"
	csrfCookie    = "2fa_csrf"
)

// maxCookieLen: longer cookie values are ignored before any decoding work.
const maxCookieLen = 2048

func cookieName(r *http.Request, base string) string {
	if r.TLS != nil {
		return "__Host-" + base
	}
	return base
}

func readCookie(r *http.Request, base string) string {
	v := CookieValue(r.Header, cookieName(r, base))
	if len(v) > maxCookieLen {
		return ""
	}
	return v
}

// CookieValue finds a cookie in the Cookie headers without parsing them
// all (it runs on every proxied request). Quotes around a value are
// removed; the first cookie of that name wins, as browsers send the most
// specific first.
func CookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
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

func setCookie(w http.ResponseWriter, r *http.Request, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(r, base),
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		Secure:   r.TLS != nil,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, base string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r, base), Value: "", Path: "/", MaxAge: -1,
		Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// session is the verified-session cookie: this user passed 2FA for this
// app session, under this epoch, until Expires.
type session struct {
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
}

// appBinding is the keyed hash a session is bound to; "" when the app
// session is not visible (headers, basic_auth).
func (s *Service) appBinding(appSession string) string {
	if appSession == "" {
		return ""
	}
	sum := s.ring.MAC("app-session", s.cfg.Realm, appSession)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// boundTo reports whether binding is appSession's, made with any key of
// the ring: rotating keys must not end every session.
func (s *Service) boundTo(binding, appSession string) bool {
	if appSession == "" || binding == "" {
		return binding == "" && appSession == ""
	}
	want, err := base64.RawURLEncoding.DecodeString(binding)
	if err != nil || len(want) != 16 {
		return false
	}
	ok := 0
	for _, sum := range s.ring.MACs("app-session", s.cfg.Realm, appSession) {
		ok |= subtle.ConstantTimeCompare(want, sum[:16])
	}
	return ok == 1
}

// issueSession writes a verified session; passed is when the user last
// entered a code for it (zero when a trusted device passed them).
func (s *Service) issueSession(w http.ResponseWriter, r *http.Request, user string, appSession string, epoch uint64, device string, passed int64) error {
	return s.writeSession(w, r, session{User: user, App: s.appBinding(appSession), Epoch: epoch, Device: device, Passed: passed})
}

func (s *Service) writeSession(w http.ResponseWriter, r *http.Request, sess session) error {
	now := s.cfg.Now()
	sess.Realm = s.cfg.Realm
	sess.Issued, sess.Expires = now.Unix(), now.Add(s.cfg.SessionLifetime).Unix()
	v, err := s.ring.EncodeCookie(sessionCookie, sess)
	if err != nil {
		return err
	}
	// No MaxAge: the cookie ends with the browser session, and its own
	// expiry bounds it server-side.
	setCookie(w, r, sessionCookie, v, 0)
	return nil
}

// readSession decodes the session cookie; ok is false when it is absent,
// forged, expired, or not this user's for this app session.
func (s *Service) readSession(r *http.Request, user, appSession string) (session, bool) {
	raw := readCookie(r, sessionCookie)
	if raw == "" {
		return session{}, false
	}
	key := s.keys.of(raw, user, appSession)
	cached, ok, gen := s.sessions.get(key)
	if !ok {
		var sess session
		if err := s.ring.DecodeCookie(sessionCookie, raw, &sess); err != nil {
			return session{}, false
		}
		if sess.Realm != s.cfg.Realm || sess.User != user || !s.boundTo(sess.App, appSession) {
			return session{}, false
		}
		cached = cachedSession{device: sess.Device, epoch: sess.Epoch, expires: sess.Expires, passed: sess.Passed, carried: sess.Carried}
		s.sessions.put(key, cached, gen)
	}
	if s.cfg.Now().Unix() >= cached.expires {
		return session{}, false
	}
	return session{User: user, Epoch: cached.epoch, Expires: cached.expires, Device: cached.device, Passed: cached.passed, Carried: cached.carried}, true
}

// sessionCache remembers session cookies that opened and matched their
// user and app session, so a verified user's next requests skip the
// decryption and the keyed hash. Only values we issued can get in: a
// forged cookie never decodes. The key stands for the cookie, the user and
// the app session together: the same cookie with any other user or app
// session misses and goes through every check again. The expiry is still
// checked on each request.
type sessionCache = memo[[16]byte, cachedSession]

// cachedSession is what the gate and the pages need of an opened session
// cookie (48 bytes per verified user, with no pointer but the rare device
// ID).
type cachedSession struct {
	device  string
	epoch   uint64
	expires int64
	passed  int64
	carried bool
}

func newSessionCache(limit int) *sessionCache { return newMemo[[16]byte, cachedSession](limit) }

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
