package challenge

import (
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
)

// totpPages enroll and verify an authenticator app.
type totpPages struct {
	web     *web
	flows   *flows
	methods *methodSet
	check   *codeCheck
	start   *pageStart
	finish  *finish
	auth    *authenticator
	ring    *keyring.Ring
	policy  *policy.Snapshot
	onEvent func(string)
}

// codePage is every page with a code form.
type codePage struct {
	Method    string
	Action    string
	CSRF      string
	Error     string
	Enroll    bool
	QR        template.URL // data: URI of the QR code image
	Secret    string       // the TOTP key, grouped for typing
	OTPAuth   template.URL // otpauth://totp/... link that phones open in the app
	Account   string
	StepUp    bool // a step-up: "Confirm it's you"
	TriesLeft int
	Help      []string
	Others    []methodChoice
	// RememberDays offers "Remember this device" when above zero.
	RememberDays int
}

// totpHelp is what to do when an authenticator's codes fail.
func totpHelp(t *locale.Words) []string {
	return []string{
		t.T("challenge.totp_help.find"),
		t.T("challenge.totp_help.changes"),
		t.T("challenge.totp_help.clock"),
		t.T("challenge.totp_help.lost"),
	}
}

// form renders a code page's form again with a message (or none); title
// is a message id.
func (tp *totpPages) form(w http.ResponseWriter, r *http.Request, id identity.Identity, data *codePage, page, title string) func(status int, msg string) {
	return func(status int, msg string) {
		data.CSRF = tp.web.token(w, r, id.ID)
		data.Error = msg
		data.RememberDays = tp.policy.Current().RememberDays
		tp.web.render(w, r, status, page, title, *data)
	}
}

func (tp *totpPages) enroll(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	r, u, f, err := tp.start.enroll(w, r, id, tp.policy.Current().Allows(policy.MethodTOTP))
	if f == nil || err != nil {
		return err
	}
	seed, f, err := tp.pendingSeed(r.Context(), id, u, f)
	if err != nil {
		return err
	}
	key, err := tp.auth.key(seed, accountName(u))
	if err != nil {
		return err
	}
	data := codePage{
		Method: policy.MethodTOTP, Action: tp.web.path("/enroll/totp"), Enroll: true,
		Secret: groupKey(key.Secret()), OTPAuth: template.URL(key.URL()), Account: accountName(u),
		Help: totpHelp(tp.web.words(r)),
	}
	png, err := qrcode.Encode(key.URL(), qrcode.Medium, 256)
	if err != nil {
		return err
	}
	data.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	render := tp.form(w, r, id, &data, "enroll_totp", "challenge.enroll_totp.title")
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	return tp.check.check(w, r, id, f, policy.MethodTOTP, render, func(ctx context.Context, code string) (bool, error) {
		if _, ok, err := tp.auth.accept(ctx, id.ID, seed, code, nil); !ok || err != nil {
			return false, err
		}
		return true, tp.finish.enroll(w, r, id, f, accounts.Enrollment{Method: policy.MethodTOTP, Secret: f.PendingSecret, EnrolledAt: tp.auth.now().UTC()})
	})
}

// pendingSeed is the seed this challenge shows for enrollment: drawn once
// and kept sealed in the flow, so a reload shows the same key.
func (tp *totpPages) pendingSeed(ctx context.Context, id identity.Identity, u *accounts.User, f *accounts.Flow) ([]byte, *accounts.Flow, error) {
	aad := sealAAD(tp.auth.realm, id.ID)
	if f.PendingSecret == nil {
		seed, _, err := tp.auth.newKey(accountName(u))
		if err != nil {
			return nil, nil, err
		}
		sealed := tp.ring.Seal(seed, aad)
		if f, err = tp.flows.update(ctx, f.ID, func(f *accounts.Flow) error {
			if f.PendingSecret == nil {
				f.PendingSecret = sealed
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	seed, err := tp.ring.Open(f.PendingSecret, aad)
	if err != nil {
		return nil, nil, fmt.Errorf("open pending TOTP seed: %w", err)
	}
	return seed, f, nil
}

func (tp *totpPages) verify(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	r, u, f, err := tp.start.verify(w, r, id, func(u *accounts.User) bool {
		_, ok := u.Enrollment(policy.MethodTOTP)
		return ok && tp.policy.Current().Allows(policy.MethodTOTP)
	})
	if f == nil || err != nil {
		return err
	}
	enr, _ := u.Enrollment(policy.MethodTOTP)
	t := tp.web.words(r)
	data := codePage{Method: policy.MethodTOTP, Action: tp.web.path("/verify/totp"), Help: totpHelp(t), Others: tp.methods.othersIn(t, u, policy.MethodTOTP), StepUp: f.StepUp}
	render := tp.form(w, r, id, &data, "verify", verifyTitle(f))
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return nil
	}
	seed, err := tp.ring.Open(enr.Secret, sealAAD(tp.auth.realm, id.ID))
	if err != nil {
		return fmt.Errorf("open TOTP seed: %w", err)
	}
	return tp.check.check(w, r, id, f, policy.MethodTOTP, render, func(ctx context.Context, code string) (bool, error) {
		u, ok, err := tp.auth.accept(ctx, id.ID, seed, code, func(u *accounts.User) {
			u.Used(policy.MethodTOTP, tp.auth.now())
		})
		if !ok || err != nil {
			return false, err
		}
		tp.onEvent("verified_totp")
		return true, tp.finish.succeed(w, r, id, f, u, policy.MethodTOTP)
	})
}
