package challenge

import (
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// Remember me: a trusted device skips the challenge on a new app session
// while the org policy allows it. The browser holds a signed, encrypted
// device cookie; the store holds the device record, whose removal (or a
// change of the user's epoch) ends the trust everywhere.
type deviceTrust struct {
	backend  store.Backend
	codec    accounts.Codec
	realm    string
	policy   *policy.Snapshot
	notices  *Notices
	clientIP func(*http.Request) string
	now      func() time.Time
}

// add records a new trusted device, sets its cookie and tells the user.
// It returns the device id ("" when the policy remembers no devices).
func (dt *deviceTrust) add(w http.ResponseWriter, r *http.Request, u *accounts.User) (string, error) {
	days := dt.policy.Current().RememberDays
	if days <= 0 {
		return "", nil
	}
	ttl := time.Duration(days) * 24 * time.Hour
	now := dt.now().UTC()
	d := accounts.Device{
		ID: accounts.RandomToken(16), User: u.ID, Created: now, LastUsed: now,
		UserAgent: SummarizeUserAgent(r.UserAgent()), IP: dt.clientIP(r),
	}
	if err := accounts.PutDevice(r.Context(), dt.backend, dt.realm, d, ttl); err != nil {
		return "", err
	}
	v, err := dt.codec.EncodeDevice(accounts.DeviceRef{User: u.ID, Device: d.ID, Epoch: u.Epoch, Expires: now.Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	accounts.SetCookie(w, r, accounts.DeviceCookie, v, ttl)
	dt.notices.deviceTrusted(r.Context(), u, d, days)
	return d.ID, nil
}

// current is the device id of this browser's device cookie, if it is this
// user's.
func (dt *deviceTrust) current(r *http.Request, user string) string {
	raw := accounts.ReadCookie(r, accounts.DeviceCookie)
	if raw == "" {
		return ""
	}
	ref, ok := dt.codec.OpenDevice(raw, user)
	if !ok {
		return ""
	}
	return ref.Device
}

// reissue writes the device cookie again under the user's new epoch, for
// the remaining trust of the device.
func (dt *deviceTrust) reissue(w http.ResponseWriter, r *http.Request, u *accounts.User, device string) {
	created, err := accounts.DeviceCreated(r.Context(), dt.backend, dt.realm, u.ID, device)
	if err != nil || created.IsZero() {
		return
	}
	ttl := created.Add(dt.policy.Current().RememberFor()).Sub(dt.now())
	if ttl <= 0 {
		return
	}
	v, err := dt.codec.EncodeDevice(accounts.DeviceRef{User: u.ID, Device: device, Epoch: u.Epoch, Expires: dt.now().Add(ttl).Unix()})
	if err == nil {
		accounts.SetCookie(w, r, accounts.DeviceCookie, v, ttl)
	}
}
