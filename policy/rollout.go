package policy

import (
	"errors"
	"fmt"
	"time"
)

// How users who have no method yet are given time to set one up.
const (
	// SetupImmediately: at their next sign-in (the default).
	SetupImmediately = "immediately"
	// SetupByDate: by one date for everyone.
	SetupByDate = "date"
	// SetupWithinDays: within some days of their first sign-in after 2FA
	// was turned on.
	SetupWithinDays = "days"
)

// Limits of a rollout an admin may set.
const (
	MaxSetupDays  = 365
	MaxSetupSkips = 50
)

// Rollout gives users without a method time to set one up, skipping the
// setup ("Remind me later") a few times before it is required. Admins and
// users who ever had a method are never given time.
type Rollout struct {
	// Mode is SetupImmediately (""), SetupByDate or SetupWithinDays.
	Mode string `json:"mode,omitempty"`
	// Date is the last day to set up with SetupByDate, "2027-01-31"
	// (setup is required from the next day, 00:00 UTC).
	Date string `json:"date,omitempty"`
	// Days is the time from a user's first sign-in with SetupWithinDays.
	Days int `json:"days,omitempty"`
	// Skips is how often a user may put setup off before the deadline.
	Skips int `json:"skips,omitempty"`
}

// Gives reports whether the rollout gives users any time.
func (r Rollout) Gives() bool { return r.Mode == SetupByDate || r.Mode == SetupWithinDays }

// LastDay is the date of a SetupByDate rollout.
func (r Rollout) LastDay() (time.Time, error) {
	return time.Parse(time.DateOnly, r.Date)
}

// Deadline is when setup becomes required for a user who first signed in
// (after 2FA was turned on) at started; zero when the rollout gives no
// time, or (SetupWithinDays) the user has not signed in yet.
func (r Rollout) Deadline(started time.Time) time.Time {
	switch r.Mode {
	case SetupByDate:
		day, err := r.LastDay()
		if err != nil {
			return time.Time{}
		}
		return day.AddDate(0, 0, 1)
	case SetupWithinDays:
		if started.IsZero() {
			return time.Time{}
		}
		return started.UTC().Add(time.Duration(r.Days) * 24 * time.Hour)
	}
	return time.Time{}
}

// ErrRolloutDate: a rollout's last day that is no date.
var ErrRolloutDate = errors.New("the setup deadline must be a date such as 2027-01-31")

// ErrRolloutDays: a setup period outside its bounds.
var ErrRolloutDays = fmt.Errorf("the setup period must be between 1 and %d days", MaxSetupDays)

// ErrRolloutSkips: a number of skips outside its bounds.
var ErrRolloutSkips = fmt.Errorf("users may put setup off between 1 and %d times", MaxSetupSkips)

func (r Rollout) validate() error {
	switch r.Mode {
	case "", SetupImmediately:
		if r.Date != "" || r.Days != 0 || r.Skips != 0 {
			return errors.New("a setup required immediately takes no date, days or skips")
		}
		return nil
	case SetupByDate:
		if _, err := r.LastDay(); err != nil {
			return ErrRolloutDate
		}
		if r.Days != 0 {
			return errors.New("a setup deadline by date takes no days")
		}
	case SetupWithinDays:
		if r.Days < 1 || r.Days > MaxSetupDays {
			return ErrRolloutDays
		}
		if r.Date != "" {
			return errors.New("a setup period in days takes no date")
		}
	default:
		return fmt.Errorf("unknown setup deadline %q (use %s, %s or %s)", r.Mode, SetupImmediately, SetupByDate, SetupWithinDays)
	}
	if r.Skips < 1 || r.Skips > MaxSetupSkips {
		return ErrRolloutSkips
	}
	return nil
}

// summary is the rollout in words, for the policy's summary.
func (r Rollout) summary() string {
	switch r.Mode {
	case SetupByDate:
		return fmt.Sprintf("; setup required after %s, up to %d skips", r.Date, r.Skips)
	case SetupWithinDays:
		return fmt.Sprintf("; setup required within %d days of first sign-in, up to %d skips", r.Days, r.Skips)
	}
	return ""
}

// hashText is what the rollout adds to the policy's hash ("" when it
// gives no time, so policies stored before rollouts keep their hash).
func (r Rollout) hashText() string {
	if !r.Gives() {
		return ""
	}
	return fmt.Sprintf("\x00rollout=%s/%s/%d/%d", r.Mode, r.Date, r.Days, r.Skips)
}
