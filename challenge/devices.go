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
	v, err := s.codec.EncodeDevice(accounts.DeviceRef{User: u.ID, Device: d.ID, Epoch: u.Epoch, Expires: now.Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	setCookie(w, r, accounts.DeviceCookie, v, ttl)
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
					clearCookie(w, r, accounts.DeviceCookie)
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
	raw := readCookie(r, accounts.DeviceCookie)
	if raw == "" {
		return ""
	}
	ref, ok := s.codec.OpenDevice(raw, user)
	if !ok {
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
	v, err := s.codec.EncodeDevice(accounts.DeviceRef{User: u.ID, Device: device, Epoch: u.Epoch, Expires: s.cfg.Now().Add(ttl).Unix()})
	if err == nil {
		setCookie(w, r, accounts.DeviceCookie, v, ttl)
	}
}
