package orgadmin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/rollout"
)

// The setup progress page: counts by state (each a filter of the table),
// every user's state and deadline, and more time for one user.

// progressCount is one state's count, a link to its users.
type progressCount struct {
	State   rollout.State
	Count   int
	Current bool
}

type rolloutPage struct {
	CSRF     string
	Prefix   string
	Counts   []progressCount
	Total    int
	Filter   rollout.State
	Rows     []RolloutRow
	Next     string
	Notice   string
	Error    string
	Gives    bool // the policy gives users time
	Extend   []int
	Disabled bool
}

// extendChoices are the extensions the page offers, in days.
var extendChoices = []int{3, 7, 14, 30}

func (h *HTML) progressCounts(r *http.Request, filter rollout.State) ([]progressCount, int, error) {
	counts, err := h.admin.RolloutProgress(r.Context())
	if err != nil {
		return nil, 0, err
	}
	out, total := make([]progressCount, 0, len(rollout.States)), 0
	for _, s := range rollout.States {
		out = append(out, progressCount{State: s, Count: counts[s], Current: s == filter})
		total += counts[s]
	}
	return out, total, nil
}

func (h *HTML) rolloutPage(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	return h.rolloutWith(w, r, id, "", "")
}

func (h *HTML) rolloutWith(w http.ResponseWriter, r *http.Request, id identity.Identity, notice, fail string) error {
	filter := rollout.State(r.FormValue("state"))
	if !slices.Contains(rollout.States, filter) {
		filter = ""
	}
	p := h.admin.Policy()
	data := rolloutPage{CSRF: h.csrf.Token(w, r, id.ID), Prefix: h.site.Prefix(), Filter: filter, Notice: notice, Error: fail,
		Gives: p.Rollout.Gives(), Extend: extendChoices, Disabled: !p.Enabled}
	var err error
	if data.Counts, data.Total, err = h.progressCounts(r, filter); err != nil {
		return err
	}
	if data.Rows, data.Next, err = h.admin.RolloutUsers(r.Context(), filter, r.FormValue("after"), 50); err != nil {
		return err
	}
	status := http.StatusOK
	if fail != "" {
		status = http.StatusUnprocessableEntity
	}
	h.tpl.Render(w, r, status, "admin_rollout", "orgadmin.rollout.title", data)
	return nil
}

// extend gives one user more days to set up.
func (h *HTML) extend(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	t, user := h.site.Words(r), r.PostFormValue("user")
	days, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue("days")))
	to, err := h.admin.ExtendDeadline(r.Context(), h.actor(r, id), user, days)
	if err != nil {
		if a := AnswerIn(t, err); !a.Unavailable() {
			return h.rolloutWith(w, r, id, "", a.Message)
		}
		return err
	}
	return h.rolloutWith(w, r, id, t.T("orgadmin.rollout.extended", "User", user, "Date", t.Date(to.Add(-1))), "")
}
