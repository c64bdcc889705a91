package challenge

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
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
	c, err := r.Cookie(cookieName(r, base))
	if err != nil || len(c.Value) > maxCookieLen {
		return ""
	}
	return c.Value
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
	User    string `json:"u"`
	App     string `json:"a,omitempty"` // keyed hash of the app session token
	Epoch   uint64 `json:"e"`
	Issued  int64  `json:"i"`
	Expires int64  `json:"x"`
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

func (s *Service) issueSession(w http.ResponseWriter, r *http.Request, user string, appSession string, epoch uint64) error {
	now := s.cfg.Now()
	v, err := s.ring.EncodeCookie(sessionCookie, session{
		User: user, App: s.appBinding(appSession), Epoch: epoch,
		Issued: now.Unix(), Expires: now.Add(s.cfg.SessionLifetime).Unix(),
	})
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
	var sess session
	if err := s.ring.DecodeCookie(sessionCookie, raw, &sess); err != nil {
		return session{}, false
	}
	if sess.User != user || s.cfg.Now().Unix() >= sess.Expires {
		return session{}, false
	}
	if subtle.ConstantTimeCompare([]byte(sess.App), []byte(s.appBinding(appSession))) != 1 {
		return session{}, false
	}
	return sess, true
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
