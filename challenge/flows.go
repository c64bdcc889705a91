package challenge

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/pages"
	"github.com/caddy2fa/caddy2fa/store"
)

// flows are the open challenges: a record in the store, named by a signed
// cookie, bound to one user and one app session, remembering where the
// user was going.
type flows struct {
	backend  store.Backend
	ring     *keyring.Ring
	codec    accounts.Codec
	keys     accounts.Keys
	prefix   string
	lifetime time.Duration
	now      func() time.Time
	logger   *slog.Logger
	users    *users
	reads    readAhead
}

type flowRef struct {
	ID string `json:"f"`
}

// start opens (or reuses) the user's challenge and records where they were
// going. It also records the user's identity for admins.
func (fl *flows) start(w http.ResponseWriter, r *http.Request, id identity.Identity, returnTo string) (*accounts.Flow, error) {
	ctx := r.Context()
	if _, err := fl.users.remember(ctx, id); err != nil {
		return nil, err
	}
	returnTo = pages.SafeReturnPath(returnTo, fl.prefix)
	if f, err := fl.load(r, id); err == nil {
		if f.Return == returnTo {
			return f, nil
		}
		return fl.update(ctx, f.ID, func(f *accounts.Flow) error { f.Return = returnTo; return nil })
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	f := &accounts.Flow{
		ID: accounts.RandomToken(16), User: id.ID, App: fl.codec.AppBinding(id.AppSession),
		Return: returnTo, Created: fl.now().UTC(),
	}
	if err := accounts.PutFlow(ctx, fl.backend, fl.keys.Realm, f, fl.lifetime); err != nil {
		return nil, err
	}
	ref, err := fl.ring.EncodeCookie(accounts.FlowCookie, flowRef{ID: f.ID})
	if err != nil {
		return nil, err
	}
	accounts.SetCookie(w, r, accounts.FlowCookie, ref, fl.lifetime)
	return f, nil
}

// load finds the request's open challenge; ErrNotFound when there is none
// for this user and app session.
func (fl *flows) load(r *http.Request, id identity.Identity) (*accounts.Flow, error) {
	flowID, ok := fl.ref(r)
	if !ok {
		return nil, store.ErrNotFound
	}
	f := new(accounts.Flow)
	if err := fl.reads.getJSON(r.Context(), fl.keys.Flow(flowID), f); err != nil {
		return nil, err
	}
	// A challenge belongs to one user and one app session: another user's
	// (or another session's) flow cookie is worthless.
	if f.User != id.ID || subtle.ConstantTimeCompare([]byte(f.App), []byte(fl.codec.AppBinding(id.AppSession))) != 1 {
		return nil, store.ErrNotFound
	}
	return f, nil
}

// current returns the open challenge, starting one (back to "/") if the
// user came to our pages directly.
func (fl *flows) current(w http.ResponseWriter, r *http.Request, id identity.Identity) (*accounts.Flow, error) {
	f, err := fl.load(r, id)
	if errors.Is(err, store.ErrNotFound) {
		return fl.start(w, r, id, "/")
	}
	return f, err
}

// ref returns the challenge ID the flow cookie names, if it has a valid
// one.
func (fl *flows) ref(r *http.Request) (string, bool) {
	raw := accounts.ReadCookie(r, accounts.FlowCookie)
	if raw == "" {
		return "", false
	}
	var ref flowRef
	if err := fl.ring.DecodeCookie(accounts.FlowCookie, raw, &ref); err != nil {
		return "", false
	}
	return ref.ID, true
}

func (fl *flows) update(ctx context.Context, flowID string, fn func(*accounts.Flow) error) (*accounts.Flow, error) {
	return accounts.UpdateFlow(ctx, fl.backend, fl.keys.Realm, flowID, fl.lifetime, fl.now(), fn)
}

func (fl *flows) end(w http.ResponseWriter, r *http.Request, f *accounts.Flow) {
	if err := accounts.DeleteFlow(r.Context(), fl.backend, fl.keys.Realm, f.ID); err != nil {
		fl.logger.Warn("could not delete a finished challenge; it expires by itself", "error", err)
	}
	accounts.ClearCookie(w, r, accounts.FlowCookie)
}

// readAhead returns r carrying what a code form's POST reads: the user,
// their lock ladder and the open challenge.
func (fl *flows) readAhead(r *http.Request, id identity.Identity, ladder store.Key) *http.Request {
	keys := []store.Key{fl.keys.User(id.ID), ladder}
	if flowID, ok := fl.ref(r); ok {
		keys = append(keys, fl.keys.Flow(flowID))
	}
	return fl.reads.load(r, keys...)
}
