package orgadmin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/verify"
)

// The use cases' errors, which every transport answers through Answer.
var (
	// ErrNoAdminEmail: confirmation codes cannot reach this admin.
	ErrNoAdminEmail = errors.New("we don't know an email address for you, so we can't send the confirmation code; ask for your address to be added to your account")
	// ErrMalformedCode: what was sent is not a 6-digit code (no attempt
	// was spent on it).
	ErrMalformedCode = errors.New("enter the 6-digit code from the email, using numbers only")
	// ErrChangeCancelled: the change's attempts ran out.
	ErrChangeCancelled = errors.New("too many wrong codes: this change was cancelled; nothing was changed, start again to try once more")
)

// InvalidChange: the proposed policy is not one the org can have.
type InvalidChange struct {
	Reason string
	// id and args say Reason as a message ("": none we know).
	id   string
	args []any
}

// invalidChange is Validate's refusal of next, with its message.
func invalidChange(next policy.Policy, avail policy.Availability, err error) *InvalidChange {
	id, args := invalidReason(next, avail, err)
	return &InvalidChange{Reason: err.Error(), id: id, args: args}
}

func (e *InvalidChange) Error() string { return e.Reason }

// WrongCode: the code was wrong; Left more tries remain.
type WrongCode struct{ Left int }

func (e *WrongCode) Error() string {
	return fmt.Sprintf("that code didn't work; copy the newest code from the email and try again (%d left)", e.Left)
}

// An Answer is how every transport reports a use case's outcome.
type Answer struct {
	Status int
	// Code names the outcome in JSON ("wrong_code").
	Code string
	// Message says it to a person.
	Message string
	// RetryAfter is when a held try may be made again (zero: unknown or
	// never by waiting).
	RetryAfter time.Time
}

// AnswerFor is the one table from use-case errors to answers, in English
// (the operator's, read in logs); anything it does not know is the store
// failing (503).
func AnswerFor(err error) Answer { return AnswerIn(nil, err) }

// AnswerIn is AnswerFor with the message in t's language (a person's at
// the pages or the API); a nil t is English.
func AnswerIn(t *locale.Words, err error) Answer {
	var (
		bad     *badRequest
		invalid *InvalidChange
		wrong   *WrongCode
		held    *verify.Refused
		refusal *sentcode.Refusal
	)
	switch {
	case err == nil:
		return Answer{Status: http.StatusOK, Code: "ok"}
	case errors.As(err, &bad):
		detail := strings.TrimRight(bad.err.Error(), ".?!")
		return Answer{Status: http.StatusBadRequest, Code: "bad_request", Message: t.T("orgadmin.answer.bad_request", "Detail", detail)}
	case errors.As(err, &invalid):
		msg := sentence(invalid.Reason)
		if t != nil && invalid.id != "" {
			msg = t.T(invalid.id, invalid.args...)
		}
		return Answer{Status: http.StatusUnprocessableEntity, Code: "invalid_change", Message: msg}
	case errors.Is(err, ErrNoAdminEmail):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "no_admin_email", Message: t.T("orgadmin.answer.no_admin_email")}
	case errors.As(err, &refusal):
		return Answer{Status: http.StatusTooManyRequests, Code: "send_refused", Message: refusalText(t, refusal), RetryAfter: refusal.Retry}
	case errors.Is(err, sentcode.ErrDeliveryFailed):
		return Answer{Status: http.StatusBadGateway, Code: "delivery_failed", Message: t.T("orgadmin.answer.delivery_failed")}
	case errors.Is(err, ErrMalformedCode):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "malformed_code", Message: t.T("orgadmin.answer.malformed_code")}
	case errors.As(err, &wrong):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "wrong_code", Message: t.T("orgadmin.answer.wrong_code")}
	case errors.As(err, &held):
		a := Answer{Status: http.StatusTooManyRequests, Code: "locked_out", Message: t.T("orgadmin.answer.locked_paused")}
		if held.Hard {
			a.Message = t.T("orgadmin.answer.locked_hard")
		} else {
			a.RetryAfter = held.Until
		}
		return a
	case errors.Is(err, ErrChangeCancelled):
		return Answer{Status: http.StatusTooManyRequests, Code: "change_cancelled", Message: t.T("orgadmin.answer.change_cancelled")}
	case errors.Is(err, policy.ErrStale):
		return Answer{Status: http.StatusConflict, Code: "stale_change", Message: t.T("orgadmin.answer.stale_change")}
	case errors.Is(err, policy.ErrNoProposal):
		return Answer{Status: http.StatusNotFound, Code: "no_such_change", Message: t.T("orgadmin.answer.no_such_change")}
	case errors.Is(err, rollout.ErrNotPending):
		return Answer{Status: http.StatusConflict, Code: "no_deadline", Message: t.T("orgadmin.answer.rollout.no_deadline")}
	case errors.Is(err, rollout.ErrEarlier):
		return Answer{Status: http.StatusConflict, Code: "deadline_earlier", Message: t.T("orgadmin.answer.rollout.deadline_earlier")}
	case errors.Is(err, ErrExtendDays):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "extend_days", Message: t.T("orgadmin.answer.rollout.extend_days", "Max", policy.MaxSetupDays)}
	case errors.Is(err, ErrRolloutPast):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "invalid_change", Message: t.T("orgadmin.answer.rollout.past")}
	case errors.Is(err, accounts.ErrNoSuchUser):
		return Answer{Status: http.StatusNotFound, Code: "no_such_user", Message: t.T("orgadmin.answer.no_such_user")}
	}
	return Answer{Status: http.StatusServiceUnavailable, Code: "two_factor_unavailable", Message: t.T("pages.unavailable.api")}
}

// refusals are sentcode's refusals (which carry English text only) as
// messages; one not listed shows as sentcode wrote it.
var refusals = map[string]string{
	"A code was sent moments ago. Wait a little before asking for another.":    "orgadmin.answer.send_cooldown",
	"You've asked for too many codes. Try again later, or use another method.": "orgadmin.answer.send_capped",
}

func refusalText(t *locale.Words, r *sentcode.Refusal) string {
	if id, ok := refusals[r.Message]; ok {
		return t.T(id)
	}
	return r.Message
}

// Unavailable reports whether the answer is the store failing: the pages
// show their 503 page for it.
func (a Answer) Unavailable() bool { return a.Status == http.StatusServiceUnavailable }

// sentence capitalizes an error's text and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		s = string(c-'a'+'A') + s[1:]
	}
	if last := s[len(s)-1]; last != '.' && last != '?' && last != '!' {
		s += "."
	}
	return s
}
