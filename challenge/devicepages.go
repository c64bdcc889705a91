package challenge

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// devicePages list a verified user's trusted devices and remove them.
type devicePages struct {
	web      *web
	sessions *sessions
	stepUp   *stepUp
	trust    *deviceTrust
	notices  *Notices
	backend  store.Backend
	realm    string
	policy   *policy.Snapshot
	clientIP func(*http.Request) string
	now      func() time.Time
}

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

func (dp *devicePages) serve(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	if ok, err := dp.stepUp.verified(w, r, id, "/", false); !ok || err != nil {
		return err
	}
	t := dp.web.words(r)
	current := dp.trust.current(r, id.ID)
	notice := ""
	if r.Method == http.MethodPost {
		if fresh, err := dp.stepUp.require(w, r, id, dp.web.path("/devices"), false); err != nil || !fresh {
			return err
		}
		var err error
		switch r.PostFormValue("action") {
		case "revoke":
			notice, current, err = dp.revoke(w, r, t, id, r.PostFormValue("device"), current)
		case "others":
			notice, err = dp.signOutOthers(w, r, t, id, current)
		}
		if err != nil {
			return err
		}
	}
	list, err := accounts.ListDevices(r.Context(), dp.backend, dp.realm, id.ID)
	if err != nil {
		return err
	}
	p := dp.policy.Current()
	data := devicesPage{CSRF: dp.web.token(w, r, id.ID), Notice: notice, RememberDays: p.RememberDays}
	for _, d := range list {
		if !dp.now().Before(d.Created.Add(p.RememberFor())) {
			continue // beyond the current remember-me limit: no longer trusted
		}
		data.Devices = append(data.Devices, deviceRow{
			ID: d.ID, UserAgent: deviceName(t, d.UserAgent), IP: d.IP,
			Created: t.Date(d.Created), LastUsed: t.DateTime(d.LastUsed),
			Current: d.ID == current,
		})
	}
	dp.web.render(w, r, http.StatusOK, "devices", "account.devices.title", data)
	return nil
}

// revoke removes one device; it returns the notice and the browser's
// device after it.
func (dp *devicePages) revoke(w http.ResponseWriter, r *http.Request, t *locale.Words, id identity.Identity, dev, current string) (string, string, error) {
	if dev == "" {
		return "", current, nil
	}
	if _, err := accounts.RevokeDevices(r.Context(), dp.backend, dp.realm, id.ID, []string{dev}, ""); err != nil {
		return "", current, err
	}
	dp.notices.devicesRemoved(r.Context(), id, dp.clientIP(r), 1)
	if dev == current {
		// This browser stays signed in for now, no longer on the strength
		// of the removed device.
		accounts.ClearCookie(w, r, accounts.DeviceCookie)
		current = ""
		if sess, ok := dp.sessions.read(r, id.ID, id.AppSession); ok {
			if err := dp.sessions.issue(w, r, id.ID, id.AppSession, sess.Epoch, "", sess.Passed, sess.Method); err != nil {
				return "", current, err
			}
		}
	}
	return t.T("account.devices.removed"), current, nil
}

// signOutOthers ends every other session and device: a new epoch, then a
// fresh session (and device cookie) for this browser.
func (dp *devicePages) signOutOthers(w http.ResponseWriter, r *http.Request, t *locale.Words, id identity.Identity, current string) (string, error) {
	u, err := accounts.EndSessions(r.Context(), dp.backend, dp.realm, id.ID, current, nil)
	if err != nil {
		return "", err
	}
	sess, _ := dp.sessions.read(r, id.ID, id.AppSession)
	if err := dp.sessions.issue(w, r, id.ID, id.AppSession, u.Epoch, current, sess.Passed, sess.Method); err != nil {
		return "", err
	}
	if current != "" {
		dp.trust.reissue(w, r, u, current)
	}
	dp.notices.devicesRemoved(r.Context(), id, dp.clientIP(r), 0)
	return t.T("account.devices.signed_out_others"), nil
}

// deviceName is a device's stored summary ("Firefox on Windows", see
// SummarizeUserAgent) in t's language; browser and system names stay.
func deviceName(t *locale.Words, summary string) string {
	browser, os, found := strings.Cut(summary, " on ")
	if browser == "Unknown browser" {
		browser = t.T("account.devices.unknown_browser")
	}
	if !found {
		return browser
	}
	return t.T("account.devices.browser_on", "Browser", browser, "OS", os)
}
