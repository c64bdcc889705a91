package orgadmin

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/accounts"
	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/notify"
	"github.com/caddy2fa/caddy2fa/policy"
	"github.com/caddy2fa/caddy2fa/sentcode"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/caddy2fa/caddy2fa/verify"
)

// rig is one realm's admin use cases on a throwaway store, mailing into an
// outbox.
type rig struct {
	t      *testing.T
	b      store.Backend
	admin  *Admin
	outbox string
	mailer *fakeMailer
	now    time.Time
	mu     sync.Mutex
}

func newRig(t *testing.T, p policy.Policy) *rig {
	t.Helper()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "2fa.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rg := &rig{t: t, b: b, outbox: t.TempDir(), mailer: &fakeMailer{}, now: time.Unix(1_800_000_000, 0)}
	box, err := notify.NewOutbox(rg.outbox)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := keyring.Parse(keyring.Generate())
	snap := policy.NewSnapshot(b, "default", p)
	checker := verify.NewChecker(b, verify.CheckerConfig{Realm: "default", Now: rg.clock})
	codes := sentcode.New(b, ring, sentcode.Config{Realm: "default", Org: "Acme Corp", Email: box, Now: rg.clock})
	rg.admin, err = New(Config{Org: "Acme Corp", SiteURL: "https://app.acme.example", Email: box, Mailer: rg.mailer, Now: rg.clock},
		Parts{Store: b, Policy: snap, Checker: checker, Codes: codes})
	if err != nil {
		t.Fatal(err)
	}
	return rg
}

func (rg *rig) clock() time.Time {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.now
}

var alice = Actor{ID: "alice", Email: "alice@acme.example", IP: "192.0.2.1"}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// lastCode is the code of the newest email to an address.
func (rg *rig) lastCode(to string) string {
	rg.t.Helper()
	msgs, err := notify.ReadOutbox(rg.outbox)
	if err != nil {
		rg.t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			return sixDigits.FindString(msgs[i].Text)
		}
	}
	rg.t.Fatalf("no email to %s", to)
	return ""
}

// fakeMailer counts what would be queued.
type fakeMailer struct {
	mu    sync.Mutex
	queue map[string][]notify.QueuedEmail
}

func (m *fakeMailer) Enqueue(_ context.Context, job string, items []notify.QueuedEmail) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.queue == nil {
		m.queue = map[string][]notify.QueuedEmail{}
	}
	m.queue[job] = append(m.queue[job], items...)
	return len(items), nil
}

func (m *fakeMailer) Progress(_ context.Context, job string) (notify.Progress, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return notify.Progress{Job: job, Total: len(m.queue[job])}, nil
}

func (m *fakeMailer) queued(job string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue[job])
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for range 500 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(what)
}

func TestChangeIsAppliedOnlyWithTheAdminsCode(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	ctx := t.Context()
	next := policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP, policy.MethodEmail}, RememberDays: 7}
	prop, to, err := rg.admin.ProposeChange(ctx, alice, next)
	if err != nil || to != alice.Email {
		t.Fatalf("propose: %v, code to %q", err, to)
	}
	if _, err := rg.admin.ConfirmChange(ctx, alice, prop.ID, "12 34"); !errors.Is(err, ErrMalformedCode) {
		t.Fatalf("a malformed code: %v", err)
	}
	var wrong *WrongCode
	if _, err := rg.admin.ConfirmChange(ctx, alice, prop.ID, "000000"); !errors.As(err, &wrong) || wrong.Left != policy.MaxProposalAttempts-1 {
		t.Fatalf("a wrong code: %v", err)
	}
	if rg.admin.Policy().Enabled {
		t.Fatal("applied before the right code")
	}
	if _, err := rg.admin.ConfirmChange(ctx, Actor{ID: "mallory"}, prop.ID, rg.lastCode(alice.Email)); !errors.Is(err, policy.ErrNoProposal) {
		t.Fatalf("another admin confirmed alice's change: %v", err)
	}
	applied, err := rg.admin.ConfirmChange(ctx, alice, prop.ID, rg.lastCode(alice.Email))
	if err != nil || !applied.Enabled || !rg.admin.Policy().Enabled || rg.admin.Policy().RememberDays != 7 {
		t.Fatalf("confirm: %+v %v; in force %+v", applied, err, rg.admin.Policy())
	}
	if _, err := rg.admin.ConfirmChange(ctx, alice, prop.ID, rg.lastCode(alice.Email)); !errors.Is(err, policy.ErrNoProposal) {
		t.Fatalf("a change confirmed twice: %v", err)
	}
	events, _, _ := rg.admin.ListAudit(ctx, "", 10)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	slices.Sort(actions)
	if got := strings.Join(actions, ","); got != "policy_change_proposed,policy_changed" {
		t.Fatalf("audit: %s", got)
	}
}

func TestChangeIsCancelledAfterTooManyWrongCodes(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	ctx := t.Context()
	prop, _, err := rg.admin.ProposeChange(ctx, alice, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range policy.MaxProposalAttempts {
		_, err = rg.admin.ConfirmChange(ctx, alice, prop.ID, "000000")
		if i < policy.MaxProposalAttempts-1 && !errors.As(err, new(*WrongCode)) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	if !errors.Is(err, ErrChangeCancelled) {
		t.Fatalf("the last wrong code: %v", err)
	}
	if _, err := rg.admin.ConfirmChange(ctx, alice, prop.ID, rg.lastCode(alice.Email)); !errors.Is(err, policy.ErrNoProposal) {
		t.Fatalf("the right code after the change was cancelled: %v", err)
	}
}

func TestStaleChangeIsRefused(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	ctx := t.Context()
	prop, _, err := rg.admin.ProposeChange(ctx, alice, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rg.admin.ReplacePolicy(ctx, Operator, -1, policy.Policy{Enabled: true, Methods: []string{policy.MethodEmail}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rg.admin.ConfirmChange(ctx, alice, prop.ID, rg.lastCode(alice.Email)); !errors.Is(err, policy.ErrStale) {
		t.Fatalf("a change proposed over an older policy: %v", err)
	}
}

func TestProposalRefusesWhatTheOrgCannotHave(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	var invalid *InvalidChange
	if _, _, err := rg.admin.ProposeChange(t.Context(), alice, policy.Policy{Enabled: true, Methods: []string{policy.MethodSMS}}); !errors.As(err, &invalid) {
		t.Fatalf("SMS without an SMS sender: %v", err)
	}
	if _, _, err := rg.admin.ProposeChange(t.Context(), Actor{ID: "noemail"}, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}}); !errors.Is(err, ErrNoAdminEmail) {
		t.Fatalf("an admin without an address: %v", err)
	}
}

// The operator's enable (from Caddy's admin endpoint) keeps the product's
// promise as an admin's does: every known user gets setup instructions.
func TestOperatorEnableSendsSetupInstructions(t *testing.T) {
	rg := newRig(t, policy.Policy{Methods: []string{policy.MethodTOTP}})
	ctx := t.Context()
	for _, u := range []string{"bob", "carol"} {
		if _, err := accounts.RememberUser(ctx, rg.b, "default", identity.Identity{ID: u, Email: u + "@acme.example"}, rg.clock()); err != nil {
			t.Fatal(err)
		}
	}
	p, err := rg.admin.ReplacePolicy(ctx, Operator, -1, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	if err != nil || p.ChangedBy != "operator" {
		t.Fatalf("%+v %v", p, err)
	}
	eventually(t, "no setup emails queued", func() bool { return rg.mailer.queued(rg.admin.tell.setupJob(p)) == 2 })
	item := rg.mailer.queue[rg.admin.tell.setupJob(p)][0]
	if !strings.Contains(item.Email.Text, "Acme Corp") || !strings.Contains(item.Email.Text, "https://app.acme.example/") {
		t.Fatalf("the setup email names neither the organisation nor the site:\n%s", item.Email.Text)
	}
}

// An operator's reset tells the user who reset them and for which
// organisation.
func TestOperatorResetEmailNamesTheOrganisation(t *testing.T) {
	rg := newRig(t, policy.Policy{Enabled: true, Methods: []string{policy.MethodTOTP}})
	ctx := t.Context()
	if err := rg.admin.ResetUser(ctx, Operator, "ghost"); !errors.Is(err, accounts.ErrNoSuchUser) {
		t.Fatalf("reset of an unknown user: %v", err)
	}
	if _, err := accounts.RememberUser(ctx, rg.b, "default", identity.Identity{ID: "bob", Email: "bob@acme.example", Name: "Bob"}, rg.clock()); err != nil {
		t.Fatal(err)
	}
	if err := rg.admin.ResetUser(ctx, Operator, "bob"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := notify.ReadOutbox(rg.outbox)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Acme Corp") || !strings.Contains(msgs[0].Text, "an operator") {
		t.Fatalf("reset notice: %+v", msgs)
	}
}
