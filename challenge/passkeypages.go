package challenge

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/passkey"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/store"
)

// passkeyPages register passkeys and security keys and sign in with them.
// The browser's part needs a script (static/passkey.js): the page carries
// the ceremony's options, the script asks the browser and posts its answer
// in the form. Without a script the pages point to the other methods.
type passkeyPages struct {
	web      *web
	users    *users
	methods  *methodSet
	stepUp   *stepUp
	check    *codeCheck
	start    *pageStart
	finish   *finish
	rp       *passkey.RP // nil: this site has no site_url, so no passkeys
	notices  *Notices
	backend  store.Backend
	realm    string
	policy   *policy.Snapshot
	now      func() time.Time
	logger   func(msg string, args ...any)
	onChange func(string)
}

type passkeyPage struct {
	CSRF    string
	Error   string
	Action  string
	Enroll  bool
	Options string // the ceremony's options, JSON, for the script
	Name    string
	Others  []methodChoice
	// RememberDays offers "Remember this device" when above zero.
	RememberDays int
}

// maxAnswer bounds a browser's answer: a passkey's is a few kilobytes.
const maxAnswer = 64 << 10

// passkeyKind is what a browser's passkey answer looks like, said in t's
// language.
func passkeyKind(t *locale.Words) codeKind {
	return codeKind{
		field:  "credential",
		method: policy.MethodWebAuthn,
		normalize: func(raw string) (string, bool) {
			return raw, raw != "" && len(raw) <= maxAnswer
		},
		malformed: t.T("challenge.passkey.malformed"),
		wrong:     t.T("challenge.passkey.wrong"),
	}
}

// owner is the user as a relying party sees them.
func passkeyOwner(u *accounts.User) passkey.Owner {
	return passkey.Owner{Handle: u.PasskeyHandle, Name: accountName(u), DisplayName: displayName(u), Keys: u.Passkeys}
}

// keyName is what the user called a new key, made safe to show.
func keyName(raw string) string {
	name := strings.Join(strings.Fields(strings.ToValidUTF8(raw, "")), " ")
	if utf8.RuneCountInString(name) > 64 {
		name = string([]rune(name)[:64])
	}
	if name == "" {
		return "Passkey"
	}
	return name
}

func (pp *passkeyPages) enroll(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	r, u, f, err := pp.start.enroll(w, r, id, pp.methods.allowed(policy.MethodWebAuthn))
	if f == nil || err != nil {
		return err
	}
	if u.PasskeyHandle == nil {
		handle := passkey.NewHandle()
		if u, err = accounts.UpdateUser(r.Context(), pp.backend, pp.realm, id.ID, func(u *accounts.User) error {
			if u.PasskeyHandle == nil {
				u.PasskeyHandle = handle
			}
			return nil
		}); err != nil {
			return err
		}
	}
	data := passkeyPage{Action: pp.web.path("/enroll/webauthn"), Enroll: true, Name: keyName(r.PostFormValue("name")), Others: pp.methods.toEnrollIn(pp.web.words(r), []string{policy.MethodWebAuthn})}
	if r.Method == http.MethodPost && r.PostFormValue("name") == "" {
		data.Name = ""
	}
	render := pp.page(w, r, id, f, &data, "challenge.passkey.title_enroll", func() ([]byte, *passkey.Session, error) { return pp.rp.BeginRegistration(passkeyOwner(u)) })
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	return pp.check.checkKind(w, r, id, f, passkeyKind(pp.web.words(r)), render, func(ctx context.Context, answer string) (bool, error) {
		cer, err := pp.ceremony(ctx, id, f, true)
		if err != nil || cer == nil {
			return false, err
		}
		cred, err := pp.rp.FinishRegistration(passkeyOwner(u), cer.Session, []byte(answer))
		if err != nil {
			pp.logger("passkey registration refused", "realm", pp.realm, "user", id.ID, "error", err)
			return false, nil
		}
		now := pp.now().UTC()
		key := passkey.Key{Name: keyName(r.PostFormValue("name")), Created: now, Credential: *cred}
		e := accounts.Enrollment{Method: policy.MethodWebAuthn, EnrolledAt: now}
		if old, ok := u.Enrollment(policy.MethodWebAuthn); ok {
			e.EnrolledAt = old.EnrolledAt
		}
		if hasKey(u, cred.ID) {
			return false, nil // registered already (the browser should have said so)
		}
		return true, pp.finish.enrollWith(w, r, id, f, e, func(u *accounts.User) {
			if !hasKey(u, cred.ID) {
				u.Passkeys = append(u.Passkeys, key)
			}
		})
	})
}

// page renders a passkey page (again, with a message; title is a message
// id): each rendering begins a new ceremony, which replaces the flow's
// earlier one.
func (pp *passkeyPages) page(w http.ResponseWriter, r *http.Request, id identity.Identity, f *accounts.Flow, data *passkeyPage, title string,
	begin func() ([]byte, *passkey.Session, error)) func(status int, msg string) {
	return func(status int, msg string) {
		opts, s, err := begin()
		if err == nil {
			err = accounts.PutCeremony(r.Context(), pp.backend, pp.realm, f.ID, &accounts.Ceremony{User: id.ID, App: f.App, Register: data.Enroll, Session: *s})
		}
		if err != nil {
			pp.web.site.Fail(w, r, err)
			return
		}
		data.CSRF, data.Error, data.Options = pp.web.token(w, r, id.ID), msg, string(opts)
		data.RememberDays = pp.policy.Current().RememberDays
		pp.web.tpl.RenderPasskey(w, r, status, "passkey", title, *data)
	}
}

// hasKey reports whether the user has the credential already.
func hasKey(u *accounts.User, id []byte) bool {
	for _, k := range u.Passkeys {
		if bytes.Equal(k.Credential.ID, id) {
			return true
		}
	}
	return false
}

// ceremony takes the flow's open ceremony if it is of the kind wanted and
// for this user and app session; nil when there is none to finish.
func (pp *passkeyPages) ceremony(ctx context.Context, id identity.Identity, f *accounts.Flow, register bool) (*accounts.Ceremony, error) {
	c, err := accounts.TakeCeremony(ctx, pp.backend, pp.realm, f.ID)
	if errors.Is(err, accounts.ErrNoCeremony) {
		return nil, nil
	}
	if err != nil || c.User != id.ID || c.App != f.App || c.Register != register {
		return nil, err
	}
	return c, nil
}

func (pp *passkeyPages) verify(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	r, u, f, err := pp.start.verify(w, r, id, func(u *accounts.User) bool {
		_, ok := u.Enrollment(policy.MethodWebAuthn)
		return ok && len(u.Passkeys) > 0 && pp.methods.allowed(policy.MethodWebAuthn)
	})
	if f == nil || err != nil {
		return err
	}
	data := passkeyPage{Action: pp.web.path("/verify/webauthn"), Others: pp.methods.othersIn(pp.web.words(r), u, policy.MethodWebAuthn)}
	render := pp.page(w, r, id, f, &data, "challenge.passkey.title_verify", func() ([]byte, *passkey.Session, error) { return pp.rp.BeginLogin(passkeyOwner(u)) })
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	return pp.check.checkKind(w, r, id, f, passkeyKind(pp.web.words(r)), render, func(ctx context.Context, answer string) (bool, error) {
		cer, err := pp.ceremony(ctx, id, f, false)
		if err != nil || cer == nil {
			return false, err
		}
		used, err := pp.rp.FinishLogin(passkeyOwner(u), cer.Session, []byte(answer))
		if errors.Is(err, passkey.ErrCloned) {
			pp.notices.passkeyCloned(ctx, u, pp.check.clientIP(r))
			return false, nil
		}
		if err != nil {
			pp.logger("passkey sign-in refused", "realm", pp.realm, "user", id.ID, "error", err)
			return false, nil
		}
		now := pp.now()
		u, err := accounts.UpdateUser(ctx, pp.backend, pp.realm, id.ID, func(u *accounts.User) error {
			for i, k := range u.Passkeys {
				if bytes.Equal(k.Credential.ID, used.Credential.ID) {
					if !passkey.Newer(k, used) {
						return passkey.ErrCloned
					}
					used.LastUsed = now.UTC()
					u.Passkeys[i] = used
					u.Used(policy.MethodWebAuthn, now)
					return nil
				}
			}
			return passkey.ErrCloned
		})
		if errors.Is(err, passkey.ErrCloned) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		pp.notices.cfg.OnEvent("verified_webauthn")
		return true, pp.finish.succeed(w, r, id, f, u, policy.MethodWebAuthn)
	})
}
