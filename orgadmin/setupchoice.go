package orgadmin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/policy"
)

// setupChoice is the edit dialog's "Require setup" fieldset: when users
// without a method must set one up, and how often they may put it off.
type setupChoice struct {
	Mode  string // policy.SetupImmediately, SetupByDate, SetupWithinDays
	Date  string // the last day, 2027-01-31
	Days  int
	Skips int
	// Today is the earliest last day the date field takes.
	Today string
	// MaxDays and MaxSkips bound the number fields.
	MaxDays, MaxSkips int
}

// Defaults the dialog offers for a rollout not chosen yet.
const (
	defaultSetupDays  = 14
	defaultSetupSkips = 3
)

func newSetupChoice(now time.Time) setupChoice {
	today := now.UTC().Format(time.DateOnly)
	return setupChoice{
		Mode: policy.SetupImmediately, Date: now.UTC().AddDate(0, 0, defaultSetupDays).Format(time.DateOnly),
		Days: defaultSetupDays, Skips: defaultSetupSkips, Today: today, MaxDays: policy.MaxSetupDays, MaxSkips: policy.MaxSetupSkips,
	}
}

// setupChoiceOf is the fieldset for the current rollout.
func setupChoiceOf(r policy.Rollout, now time.Time) setupChoice {
	c := newSetupChoice(now)
	if !r.Gives() {
		return c
	}
	c.Mode, c.Skips = r.Mode, r.Skips
	if r.Mode == policy.SetupByDate {
		c.Date = r.Date
	} else {
		c.Days = r.Days
	}
	return c
}

// setupChoiceFrom reads the fieldset of a posted form (numbers that do
// not parse read as 0, which validation refuses).
func setupChoiceFrom(r *http.Request, now time.Time) setupChoice {
	c := newSetupChoice(now)
	c.Mode = r.PostFormValue("setup")
	c.Date = strings.TrimSpace(r.PostFormValue("setup_date"))
	c.Days, _ = strconv.Atoi(strings.TrimSpace(r.PostFormValue("setup_days")))
	c.Skips, _ = strconv.Atoi(strings.TrimSpace(r.PostFormValue("setup_skips")))
	return c
}

// rollout is the policy's rollout the fieldset says.
func (c setupChoice) rollout() policy.Rollout {
	switch c.Mode {
	case policy.SetupByDate:
		return policy.Rollout{Mode: c.Mode, Date: c.Date, Skips: c.Skips}
	case policy.SetupWithinDays:
		return policy.Rollout{Mode: c.Mode, Days: c.Days, Skips: c.Skips}
	case policy.SetupImmediately, "":
		return policy.Rollout{}
	}
	// An unknown choice: Validate refuses it by name.
	return policy.Rollout{Mode: c.Mode}
}
