package challenge

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/rollout"
	"github.com/caddy2fa/caddy2fa/store"
)

// setupLater is the page a user without a method sees while the policy
// still gives them time: how long is left, "Set up now", and "Remind me
// later", which counts a skip and lets this app session through without
// 2FA (the session is never verified, fresh or asserted).
type setupLater struct {
	web      *web
	flows    *flows
	users    *users
	sessions *sessions
	plan     *rollout.Plan // nil: the realm gives no time
	policy   *policy.Snapshot
	backend  store.Backend
	realm    string
	clientIP func(*http.Request) string
	now      func() time.Time
}

// grace is the time the user is given now (zero: none, set up at once).
func (sl *setupLater) grace(r *http.Request, id identity.Identity) (rollout.Grace, error) {
	if sl.plan == nil || sl.plan.Admin(id.Groups) {
		return rollout.Grace{}, nil
	}
	if f, err := sl.flows.load(r, id); err == nil && f.StepUp {
		// A step-up path of the app wants a pass, which putting off is not.
		return rollout.Grace{}, nil
	}
	return sl.plan.Begin(r.Context(), *sl.policy.Current(), id.ID)
}

type setupLaterPage struct {
	Deadline  string
	Left      string
	SkipsLeft int
	CSRF      string
	Action    string
	EnrollURL string
}

func (sl *setupLater) serve(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	if r.Method == http.MethodPost {
		return sl.skip(w, r, id)
	}
	g, err := sl.grace(r, id)
	if err != nil {
		return err
	}
	now := sl.now()
	if !g.Open(now) {
		sl.web.redirect(w, r, sl.web.path("/enroll"))
		return nil
	}
	t := sl.web.site.Words(r)
	sl.web.render(w, r, http.StatusOK, "setup_later", "rollout.page.title", setupLaterPage{
		Deadline: t.Date(g.Deadline.Add(-time.Second)), Left: t.Duration(g.Left(now).Round(time.Hour)), SkipsLeft: g.SkipsLeft,
		CSRF: sl.web.token(w, r, id.ID), Action: sl.web.path("/setup-later"), EnrollURL: sl.web.path("/enroll"),
	})
	return nil
}

// skip spends one skip (counted before the user passes), notes it in the
// audit log, and sends the user back to where they were going.
func (sl *setupLater) skip(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	if g, err := sl.grace(r, id); err != nil {
		return err
	} else if !g.Open(sl.now()) {
		sl.web.redirect(w, r, sl.web.path("/enroll"))
		return nil
	}
	g, err := sl.plan.Skip(r.Context(), *sl.policy.Current(), id.ID)
	if errors.Is(err, rollout.ErrNoTime) {
		sl.web.redirect(w, r, sl.web.path("/enroll"))
		return nil
	} else if err != nil {
		return err
	}
	u, err := sl.users.get(r, id)
	if err != nil {
		return err
	}
	if err := sl.sessions.issueUnverified(w, r, id.ID, id.AppSession, u.Epoch); err != nil {
		return err
	}
	accounts.Audit(r.Context(), sl.backend, sl.realm, accounts.AuditEvent{
		Actor: id.ID, Action: "setup_postponed", Subject: id.ID, IP: sl.clientIP(r),
		// Data, not words: the admin pages say it in the reader's language.
		Detail: "skips_left=" + strconv.Itoa(g.SkipsLeft) + " deadline=" + g.Deadline.Format(time.RFC3339),
	})
	to := "/"
	if f, err := sl.flows.load(r, id); err == nil {
		to = f.Return
		sl.flows.end(w, r, f)
	}
	sl.web.redirect(w, r, to)
	return nil
}

// issueUnverified writes a session in which the user has not passed 2FA:
// it lets this app session through (like one open before 2FA was turned
// on) but is never verified, fresh, or asserted to the app.
func (ss *sessions) issueUnverified(w http.ResponseWriter, r *http.Request, user, appSession string, epoch uint64) error {
	return ss.write(w, r, accounts.Session{User: user, App: ss.codec.AppBinding(appSession), Epoch: epoch, Carried: true})
}
