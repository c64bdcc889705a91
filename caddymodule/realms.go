package caddymodule

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/policy"
)

// RealmConfig is one organisation's settings, shared by every site of the
// realm: its users, policy and admins are one, whichever site they use.
type RealmConfig struct {
	// Issuer is the organisation's name on pages, in emails and in
	// authenticator apps. Default "caddy2fa".
	Issuer string `json:"issuer,omitempty"`
	// AdminPermission is the group (from the identity's groups) that makes
	// a user an org admin. Default "general_settings:manager".
	AdminPermission string `json:"admin_permission,omitempty"`
	// Policy is the initial org policy, used while the store holds none;
	// admins change it at run time. Default: off, authenticator app.
	Policy *PolicyConfig `json:"policy,omitempty"`
	// SMSCountries lists the country calling codes texts may go to (1 for
	// North America, 44 for the UK). Default: every country.
	SMSCountries []int `json:"sms_countries,omitempty"`
	// PhoneRegion is assumed for numbers typed without a country code
	// ("US"). Default: none; the + form is required.
	PhoneRegion string `json:"phone_region,omitempty"`
	// EnforceImmediately challenges app sessions already open when 2FA is
	// turned on. Default: they continue until the user's next login.
	EnforceImmediately bool `json:"enforce_immediately,omitempty"`
	// WebAuthn tunes passkeys and security keys. Default: see
	// WebAuthnConfig.
	WebAuthn *WebAuthnConfig `json:"webauthn,omitempty"`
	// Language is the language of pages, emails and texts for users who
	// chose none and whose browser asks for none we speak ("de", "fr").
	// Default: English.
	Language string `json:"language,omitempty"`
}

// PolicyConfig is an initial org policy.
type PolicyConfig struct {
	// Enforce turns two-factor authentication on for every user. Default
	// off.
	Enforce bool `json:"enforce,omitempty"`
	// Methods users may use: webauthn, totp, email, sms. Default: totp.
	Methods []string `json:"methods,omitempty"`
	// RecoveryCodesOff gives users no recovery codes. Default: every user
	// gets a set after their first enrollment.
	RecoveryCodesOff bool `json:"recovery_codes_off,omitempty"`
	// Remember is how long a device may be trusted ("remember me").
	// Default 0: off.
	Remember caddy.Duration `json:"remember,omitempty"`
	// SetupBy gives users without a method until this day ("2027-01-31",
	// UTC) to set one up. Default: setup is required at once.
	SetupBy string `json:"setup_by,omitempty"`
	// SetupWithin gives each user this long from their first sign-in after
	// 2FA was turned on (whole days). Default: setup is required at once.
	SetupWithin caddy.Duration `json:"setup_within,omitempty"`
	// SetupSkips is how often a user may put setup off before then.
	// Default 3 with setup_by or setup_within.
	SetupSkips int `json:"setup_skips,omitempty"`
}

// DefaultSetupSkips is how often users may put setup off when a rollout
// does not say.
const DefaultSetupSkips = 3

// rollout is the initial policy's time for users to set up.
func (c *PolicyConfig) rollout() policy.Rollout {
	var r policy.Rollout
	switch {
	case c.SetupBy != "":
		r = policy.Rollout{Mode: policy.SetupByDate, Date: c.SetupBy}
	case c.SetupWithin > 0:
		r = policy.Rollout{Mode: policy.SetupWithinDays, Days: int((time.Duration(c.SetupWithin) + 24*time.Hour - 1) / (24 * time.Hour))}
	default:
		return r
	}
	r.Skips = c.SetupSkips
	if r.Skips == 0 {
		r.Skips = DefaultSetupSkips
	}
	return r
}

// issuer is the realm's name for itself.
func (c *RealmConfig) issuer() string {
	if c.Issuer == "" {
		return "caddy2fa"
	}
	return c.Issuer
}

// initialPolicy is the policy the realm starts with.
func (c *RealmConfig) initialPolicy() policy.Policy {
	p := policy.Policy{Methods: []string{policy.MethodTOTP}}
	if c.Policy != nil {
		p.Enabled = c.Policy.Enforce
		if len(c.Policy.Methods) > 0 {
			p.Methods = c.Policy.Methods
		}
		p.RecoveryCodesOff = c.Policy.RecoveryCodesOff
		p.Rollout = c.Policy.rollout()
		if r := time.Duration(c.Policy.Remember); r > 0 {
			p.RememberDays = int((r + 24*time.Hour - 1) / (24 * time.Hour))
		}
	}
	return p
}

// validate checks a realm's settings against what the app can deliver.
func (c *RealmConfig) validate(name string, avail policy.Availability) error {
	if c.Policy != nil && c.Policy.SetupBy != "" && c.Policy.SetupWithin > 0 {
		return fmt.Errorf("realm %s: policy: setup_by and setup_within: choose one", name)
	}
	if err := c.initialPolicy().Validate(avail); err != nil {
		return fmt.Errorf("realm %s: policy: %w", name, err)
	}
	for _, cc := range c.SMSCountries {
		if cc < 1 || cc > 999 {
			return fmt.Errorf("realm %s: sms_countries: %d is not a country calling code", name, cc)
		}
	}
	return nil
}

// realmOptions are a site's realm settings in the form an earlier version
// took them: in the site's twofactor block. They still work, for the
// site's realm, with a warning.
func (h *Handler) realmOptions() (*RealmConfig, []string) {
	c := &RealmConfig{Issuer: h.Issuer, AdminPermission: h.AdminPermission, Policy: h.Policy,
		SMSCountries: h.SMSCountries, PhoneRegion: h.PhoneRegion, EnforceImmediately: h.EnforceImmediately}
	var set []string
	for name, ok := range map[string]bool{
		"issuer": c.Issuer != "", "admin_permission": c.AdminPermission != "", "policy": c.Policy != nil,
		"sms_countries": len(c.SMSCountries) > 0, "phone_region": c.PhoneRegion != "", "enforce_immediately": c.EnforceImmediately,
	} {
		if ok {
			set = append(set, name)
		}
	}
	slices.Sort(set)
	return c, set
}

// addSite registers a site's handler with the app, and its realm
// settings: those in the app's realm block, or (deprecated) the site's
// own. Two sources that disagree are an error, never a silent choice.
func (a *App) addSite(h *Handler) error {
	name := realmOr(h.Realm)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Realms == nil {
		a.Realms = map[string]*RealmConfig{}
	}
	cur := a.Realms[name]
	if cur == nil {
		cur = &RealmConfig{}
		a.Realms[name] = cur
	}
	site, set := h.realmOptions()
	if len(set) > 0 {
		a.logger.Warn("realm settings in a site's twofactor block are deprecated: move them to the global twofactor block",
			zap.String("realm", name), zap.Strings("options", set),
			zap.String("instead", "twofactor { realm "+name+" { "+strings.Join(set, " ... ; ")+" ... } }"))
		if err := mergeRealm(cur, site); err != nil {
			return fmt.Errorf("realm %s: %w (set it once, in the global twofactor { realm %s { ... } } block)", name, err, name)
		}
	}
	if err := cur.validate(name, a.availability()); err != nil {
		return err
	}
	// Nothing is opened yet: this only checks that the site can take the
	// passkeys its realm's policy names.
	if _, err := h.relyingParty(cur, cur.issuer()); err != nil {
		return fmt.Errorf("realm %s: %w", name, err)
	}
	a.sites = append(a.sites, h)
	return nil
}

// mergeRealm takes into cur each setting of site that cur does not have,
// and refuses one cur has with another value.
func mergeRealm(cur, site *RealmConfig) error {
	conflict := func(opt string) error { return fmt.Errorf("%s is set twice, to different values", opt) }
	mergeString := func(opt string, dst *string, v string) error {
		switch {
		case v == "" || *dst == v:
		case *dst == "":
			*dst = v
		default:
			return conflict(opt)
		}
		return nil
	}
	if err := mergeString("issuer", &cur.Issuer, site.Issuer); err != nil {
		return err
	}
	if err := mergeString("admin_permission", &cur.AdminPermission, site.AdminPermission); err != nil {
		return err
	}
	if err := mergeString("phone_region", &cur.PhoneRegion, site.PhoneRegion); err != nil {
		return err
	}
	switch {
	case site.Policy == nil:
	case cur.Policy == nil:
		cur.Policy = site.Policy
	case !samePolicy(cur.Policy, site.Policy):
		return conflict("policy")
	}
	switch {
	case len(site.SMSCountries) == 0:
	case len(cur.SMSCountries) == 0:
		cur.SMSCountries = site.SMSCountries
	case !slices.Equal(cur.SMSCountries, site.SMSCountries):
		return conflict("sms_countries")
	}
	cur.EnforceImmediately = cur.EnforceImmediately || site.EnforceImmediately
	return nil
}

func samePolicy(a, b *PolicyConfig) bool {
	return a.Enforce == b.Enforce && slices.Equal(a.Methods, b.Methods) && a.Remember == b.Remember && a.RecoveryCodesOff == b.RecoveryCodesOff &&
		a.rollout() == b.rollout()
}
