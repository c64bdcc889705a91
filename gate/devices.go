package gate

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
)

// Remember me: a trusted device skips the challenge on a new app session
// while the org policy allows it. The device record's removal (or a new
// epoch of the user) ends the trust everywhere; the gate caches which
// devices exist, and change notifications drop revoked ones.

// trustedDevice returns a new session cookie when the request comes from a
// device this user trusts under the current policy; nil when it does not.
func (g *Gate) trustedDevice(ctx context.Context, f *Facts, p *policy.Policy) (*http.Cookie, error) {
	raw := f.ownCookie(accounts.DeviceCookie)
	if raw == "" || p.RememberDays <= 0 {
		return nil, nil
	}
	id := f.Identity
	ref, ok := g.realm.codec.OpenDevice(raw, id.ID)
	if !ok || g.realm.now().Unix() >= ref.Expires {
		return nil, nil
	}
	if ok, err := g.deviceTrusted(ctx, id.ID, ref.Device); err != nil || !ok {
		return nil, err
	}
	epoch, err := g.realm.epochs.get(ctx, g.realm, id.ID)
	if err != nil || epoch != ref.Epoch {
		return nil, err
	}
	c, err := g.sessionCookie(f, id, epoch, ref.Device, false)
	if err != nil {
		return nil, err
	}
	if err := accounts.TouchDevice(ctx, g.realm.backend, g.realm.name, id.ID, ref.Device, g.realm.now().UTC(), p.RememberFor()); err != nil {
		g.realm.logger.Warn("could not record a trusted device's use", "error", err)
	}
	return c, nil
}

// deviceTrusted reports whether the device is still trusted under the
// current policy (it exists, and is younger than the remember-me time).
func (g *Gate) deviceTrusted(ctx context.Context, user, device string) (bool, error) {
	created, err := g.realm.devices.get(device, func() (time.Time, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return accounts.DeviceCreated(ctx, g.realm.backend, g.realm.name, user, device)
	})
	if err != nil {
		return false, err
	}
	if created.IsZero() {
		return false, nil
	}
	return g.realm.now().Before(created.Add(g.realm.policy.Current().RememberFor())), nil
}
