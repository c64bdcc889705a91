package orgadmin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/policy"
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
type InvalidChange struct{ Reason string }

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

// AnswerFor is the one table from use-case errors to answers; anything it
// does not know is the store failing (503).
func AnswerFor(err error) Answer {
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
		return Answer{Status: http.StatusBadRequest, Code: "bad_request", Message: sentence(bad.Error())}
	case errors.As(err, &invalid):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "invalid_change", Message: sentence(invalid.Reason)}
	case errors.Is(err, ErrNoAdminEmail):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "no_admin_email", Message: sentence(err.Error())}
	case errors.As(err, &refusal):
		return Answer{Status: http.StatusTooManyRequests, Code: "send_refused", Message: refusal.Message, RetryAfter: refusal.Retry}
	case errors.Is(err, sentcode.ErrDeliveryFailed):
		return Answer{Status: http.StatusBadGateway, Code: "delivery_failed", Message: "We couldn't send the confirmation code. Try again in a moment."}
	case errors.Is(err, ErrMalformedCode):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "malformed_code", Message: sentence(err.Error())}
	case errors.As(err, &wrong):
		return Answer{Status: http.StatusUnprocessableEntity, Code: "wrong_code", Message: "That code didn't work. Copy the newest code from the email and try again."}
	case errors.As(err, &held):
		a := Answer{Status: http.StatusTooManyRequests, Code: "locked_out", Message: "Too many wrong codes. Code entry is paused; try again later."}
		if held.Hard {
			a.Message = "Too many wrong codes. Code entry is locked until it is unlocked."
		} else {
			a.RetryAfter = held.Until
		}
		return a
	case errors.Is(err, ErrChangeCancelled):
		return Answer{Status: http.StatusTooManyRequests, Code: "change_cancelled", Message: sentence(err.Error())}
	case errors.Is(err, policy.ErrStale):
		return Answer{Status: http.StatusConflict, Code: "stale_change", Message: sentence(err.Error())}
	case errors.Is(err, policy.ErrNoProposal):
		return Answer{Status: http.StatusNotFound, Code: "no_such_change", Message: sentence(err.Error())}
	case errors.Is(err, accounts.ErrNoSuchUser):
		return Answer{Status: http.StatusNotFound, Code: "no_such_user", Message: "No such user."}
	}
	return Answer{Status: http.StatusServiceUnavailable, Code: "two_factor_unavailable", Message: "The two-factor service is temporarily unavailable. Try again in a moment."}
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
