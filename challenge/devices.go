package challenge

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/notify"
)

// Remember me: a trusted device skips the challenge on a new app session
// while the org policy allows it. The browser holds a signed, encrypted
// device cookie; the store holds the device record, whose removal (or a
// change of the user's epoch) ends the trust everywhere.

const deviceCookie = "2fa_device"

// deviceRef is the device cookie's content.
type deviceRef struct {
	Realm   string `json:"r"`
	User    string `json:"u"`
	Device  string `json:"d"`
	Epoch   uint64 `json:"e"`
	Expires int64  `json:"x"`
}

// mailDevicesRemoved tells the user their devices no longer skip the
// second step (n of them; 0: every other).
func (s *Service) mailDevicesRemoved(ctx context.Context, id identity.Identity, n int) {
	if id.Email == "" || s.cfg.EmailSender == nil {
		return
	}
	m := notify.DevicesRemovedEmail(s.cfg.Issuer, id.Name, n, s.cfg.Now())
	m.To = id.Email
	if err := s.cfg.EmailSender.SendEmail(context.WithoutCancel(ctx), m); err != nil {
		s.cfg.Logger.Warn("could not send the devices-removed notice", "user", id.ID, "error", err)
	}
}

// sameRealm: device cookies made before they named their realm still
// work, since the device record they point to lives in one realm anyway.
func (s *Service) sameRealm(realm string) bool { return realm == s.cfg.Realm || realm == "" }

// trustDevice records a new trusted device, sets its cookie and tells the
// user by email. It returns the device id.
func (s *Service) trustDevice(w http.ResponseWriter, r *http.Request, u *accounts.User) (string, error) {
	days := s.policy.Current().RememberDays
	if days <= 0 {
		return "", nil
	}
	ttl := time.Duration(days) * 24 * time.Hour
	now := s.cfg.Now().UTC()
	d := accounts.Device{
		ID: randomToken(16), User: u.ID, Created: now, LastUsed: now,
		UserAgent: SummarizeUserAgent(r.UserAgent()), IP: s.cfg.ClientIP(r),
	}
	if err := accounts.PutDevice(r.Context(), s.backend, s.cfg.Realm, d, ttl); err != nil {
		return "", err
	}
	v, err := s.ring.EncodeCookie(deviceCookie, deviceRef{Realm: s.cfg.Realm, User: u.ID, Device: d.ID, Epoch: u.Epoch, Expires: now.Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	setCookie(w, r, deviceCookie, v, ttl)
	s.event("device_trusted")
	s.auditEvent(r.Context(), accounts.AuditEvent{Actor: u.ID, Action: "device_trusted", Subject: u.ID, IP: d.IP, Detail: d.UserAgent})
	s.cfg.Logger.Info("device trusted", "realm", s.cfg.Realm, "user", u.ID, "device", d.UserAgent, "client_ip", d.IP, "days", days)
	if s.cfg.EmailSender != nil && u.Email != "" {
		m := notify.NewDeviceEmail(s.cfg.Issuer, displayName(u), d.UserAgent, d.IP, now, days)
		m.To = u.Email
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if err := s.cfg.EmailSender.SendEmail(ctx, m); err != nil {
			s.cfg.Logger.Warn("could not send the new-device notice", "user", u.ID, "error", err)
		}
	}
	return d.ID, nil
}

// trustedDevice lets a new app session through on a trusted device: it
// reads the store once and, when the trust holds, issues a session.
// handled is true when it answered the request itself (503).
func (s *Service) trustedDevice(w http.ResponseWriter, r *http.Request, id identity.Identity) (pass bool, handled bool) {
	raw := readCookie(r, deviceCookie)
	if raw == "" {
		return false, false
	}
	p := s.policy.Current()
	if p.RememberDays <= 0 {
		return false, false
	}
	var ref deviceRef
	now := s.cfg.Now()
	if err := s.ring.DecodeCookie(deviceCookie, raw, &ref); err != nil || !s.sameRealm(ref.Realm) || ref.User != id.ID || now.Unix() >= ref.Expires {
		return false, false
	}
	ok, err := s.devices.valid(r.Context(), s, id.ID, ref.Device)
	if err != nil {
		s.Unavailable(w, r, err)
		return false, true
	}
	if !ok {
		return false, false
	}
	epoch, err := s.epochs.get(r.Context(), s, id.ID)
	if err != nil {
		s.Unavailable(w, r, err)
		return false, true
	}
	if epoch != ref.Epoch {
		return false, false
	}
	if err := s.issueSession(w, r, id.ID, id.AppSession, epoch, ref.Device, 0); err != nil {
		s.Unavailable(w, r, err)
		return false, true
	}
	s.touchDevice(r.Context(), id.ID, ref.Device)
	s.event("device_passed")
	return true, false
}

// touchDevice records a device's use, at most hourly.
func (s *Service) touchDevice(ctx context.Context, user, device string) {
	if err := accounts.TouchDevice(ctx, s.backend, s.cfg.Realm, user, device, s.cfg.Now().UTC(), s.policy.Current().RememberFor()); err != nil {
		s.cfg.Logger.Warn("could not record a trusted device's use", "error", err)
	}
}

// deviceCache remembers which trusted devices exist (and since when), so
// sessions issued on a device are checked against revocation without a
// store read per request. Revocations arrive as change notifications.
type deviceCache struct{ *memo[string, time.Time] } // zero time: revoked

func newDeviceCache(limit int) *deviceCache { return &deviceCache{newMemo[string, time.Time](limit)} }

// valid reports whether the device is still trusted under the current
// policy (it exists, and is younger than the remember-me duration).
func (c *deviceCache) valid(ctx context.Context, s *Service, user, device string) (bool, error) {
	created, ok, gen := c.get(device)
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		if created, err = accounts.DeviceCreated(ctx, s.backend, s.cfg.Realm, user, device); err != nil {
			return false, err
		}
		c.put(device, created, gen)
	}
	if created.IsZero() {
		return false, nil
	}
	return s.cfg.Now().Before(created.Add(s.policy.Current().RememberFor())), nil
}

// devicesPage lists the user's trusted devices.
type devicesPage struct {
	CSRF         string
	Notice       string
	Devices      []deviceRow
	RememberDays int
}

type deviceRow struct {
	ID, UserAgent, IP, Created, LastUsed string
	Current                              bool
}

func (s *Service) devicesView(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	ctx := r.Context()
	ok, err := s.verified(r, id)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := s.startFlow(w, r, id, "/"); err != nil {
			return err
		}
		s.redirect(w, r, s.cfg.PathPrefix+"/")
		return nil
	}
	current := s.currentDevice(r, id.ID)
	notice := ""
	if r.Method == http.MethodPost {
		if fresh, err := s.stepUp(w, r, id, s.cfg.PathPrefix+"/devices", false); err != nil || !fresh {
			return err
		}
		switch r.PostFormValue("action") {
		case "revoke":
			dev := r.PostFormValue("device")
			if dev != "" {
				if _, err := accounts.RevokeDevices(ctx, s.backend, s.cfg.Realm, id.ID, []string{dev}, ""); err != nil {
					return err
				}
				s.audit(ctx, "device_revoked", id.ID, r)
				s.mailDevicesRemoved(ctx, id, 1)
				notice = "The device was removed. It will be asked for a code at its next sign-in."
				if dev == current {
					// This browser stays signed in for now, no longer on the
					// strength of the removed device.
					clearCookie(w, r, deviceCookie)
					current = ""
					if sess, ok := s.readSession(r, id.ID, id.AppSession); ok {
						if err := s.issueSession(w, r, id.ID, id.AppSession, sess.Epoch, "", sess.Passed); err != nil {
							return err
						}
					}
				}
			}
		case "others":
			// End every other session and device: a new epoch, then a
			// fresh session (and device cookie) for this browser.
			u, err := accounts.EndSessions(ctx, s.backend, s.cfg.Realm, id.ID, current, nil)
			if err != nil {
				return err
			}
			s.epochs.forget(id.ID)
			sess, _ := s.readSession(r, id.ID, id.AppSession)
			if err := s.issueSession(w, r, id.ID, id.AppSession, u.Epoch, current, sess.Passed); err != nil {
				return err
			}
			if current != "" {
				s.reissueDeviceCookie(w, r, u, current)
			}
			s.audit(ctx, "signed_out_other_devices", id.ID, r)
			s.mailDevicesRemoved(ctx, id, 0)
			notice = "You're signed out everywhere else. Other devices will be asked for a code."
		}
	}
	list, err := accounts.ListDevices(ctx, s.backend, s.cfg.Realm, id.ID)
	if err != nil {
		return err
	}
	data := devicesPage{CSRF: s.csrfToken(w, r, id.ID), Notice: notice, RememberDays: s.policy.Current().RememberDays}
	for _, d := range list {
		if !s.cfg.Now().Before(d.Created.Add(s.policy.Current().RememberFor())) {
			continue // beyond the current remember-me limit: no longer trusted
		}
		data.Devices = append(data.Devices, deviceRow{
			ID: d.ID, UserAgent: d.UserAgent, IP: d.IP,
			Created: d.Created.UTC().Format("2 Jan 2006"), LastUsed: d.LastUsed.UTC().Format("2 Jan 2006 15:04 UTC"),
			Current: d.ID == current,
		})
	}
	s.pages.render(w, http.StatusOK, "devices", "Your trusted devices", data)
	return nil
}

// currentDevice is the device id of this browser's device cookie, if it
// is this user's.
func (s *Service) currentDevice(r *http.Request, user string) string {
	raw := readCookie(r, deviceCookie)
	if raw == "" {
		return ""
	}
	var ref deviceRef
	if err := s.ring.DecodeCookie(deviceCookie, raw, &ref); err != nil || !s.sameRealm(ref.Realm) || ref.User != user {
		return ""
	}
	return ref.Device
}

func (s *Service) reissueDeviceCookie(w http.ResponseWriter, r *http.Request, u *accounts.User, device string) {
	created, err := accounts.DeviceCreated(r.Context(), s.backend, s.cfg.Realm, u.ID, device)
	if err != nil || created.IsZero() {
		return
	}
	ttl := created.Add(s.policy.Current().RememberFor()).Sub(s.cfg.Now())
	if ttl <= 0 {
		return
	}
	v, err := s.ring.EncodeCookie(deviceCookie, deviceRef{Realm: s.cfg.Realm, User: u.ID, Device: device, Epoch: u.Epoch, Expires: s.cfg.Now().Add(ttl).Unix()})
	if err == nil {
		setCookie(w, r, deviceCookie, v, ttl)
	}
}
