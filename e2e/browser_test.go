package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/notify"
)

// Browser tests: real headless Chromium walks every user journey through
// the real Caddy binary in front of the demo app. Every page of ours is
// checked with axe-core (light and dark colour schemes) and photographed
// at a phone and a laptop width, so a person can look at what users see.

// browserCaddyfile is the site of every browser journey; {STORE} and
// {POLICY} are filled in per journey. Codes go to a file outbox that the
// tests read, as a user reads their mail.
const browserCaddyfile = `{
	admin 127.0.0.1:{ADMIN}
	default_bind 127.0.0.1
	skip_install_trust
	grace_period 1s
	twofactor {
		{STORE}
		email outbox {DIR}/outbox
		sms outbox {DIR}/outbox
		realm default {
			issuer "Acme Corp"
			policy {
				{POLICY}
			}
		}
	}
}
http://127.0.0.1:{PORT} {
	twofactor {
		identity lookup http://{APP}/api/me {
			cookie legacy_session
		}
		logo ../examples/acme-logo.svg
		accent 0b7a75
		limits {
			email_cooldown {COOLDOWN}
			sms_cooldown {COOLDOWN}
		}
	}
	reverse_proxy {APP}
}
`

// screenshotSizes are a phone's and a laptop's viewport.
var screenshotSizes = []struct{ width, height int64 }{{390, 844}, {1280, 800}}

// stepTimeout bounds one browser step, so a page that never loads fails
// the test with the step's name instead of hanging until go test's limit.
const stepTimeout = 20 * time.Second

// chromiumPath finds Debian's chromium; the browser tests never skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if path, err := exec.LookPath("chromium"); err == nil {
		return path
	}
	t.Fatalf("chromium not found: run ./scripts/install-test-deps.sh")
	return ""
}

// startChromium starts a headless Chromium for the test and closes it when
// the test ends. These flags are all it gets (chromedp adds only the pipe
// it talks through and a blank first page): root needs --no-sandbox, and
// the rest keep it from reaching for a network that is not there.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after t.TempDir, so it runs first: Chromium is gone
	// before its profile directory is removed.
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing chromium: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

// axeScript is axe-core as npm installed it for the tests.
func axeScript(t *testing.T) string {
	t.Helper()
	axeOnce.Do(func() {
		var b []byte
		b, axeErr = os.ReadFile(filepath.Join(testpeer.NodeModules(t), "axe-core", "axe.min.js"))
		axeSource = string(b)
	})
	if axeErr != nil {
		t.Fatalf("axe-core not found (%v): run ./scripts/install-test-deps.sh", axeErr)
	}
	return axeSource
}

var (
	screenshotsOnce sync.Once
	screenshotsPath string
	screenshotsErr  error
)

// screenshotDir is where the screenshots go: $CADDY2FA_SCREENSHOTS, or a
// new folder under the system's temporary directory that outlives the
// test run. Its path is printed once so a person can open it.
func screenshotDir(t *testing.T) string {
	t.Helper()
	screenshotsOnce.Do(func() {
		if dir := os.Getenv("CADDY2FA_SCREENSHOTS"); dir != "" {
			screenshotsPath, screenshotsErr = dir, os.MkdirAll(dir, 0o755)
		} else {
			screenshotsPath, screenshotsErr = os.MkdirTemp("", "caddy2fa-screenshots-")
		}
		if screenshotsErr == nil {
			fmt.Println("browser test screenshots:", screenshotsPath)
		}
	})
	if screenshotsErr != nil {
		t.Fatalf("screenshot folder: %v", screenshotsErr)
	}
	t.Logf("screenshots in %s", screenshotsPath)
	return screenshotsPath
}

// browserRig is one journey's world: the demo app, Caddy in front of it,
// and a Chromium whose profiles are the users.
type browserRig struct {
	t       *testing.T
	journey string
	app     *demoApp
	caddy   *caddyProc
	outbox  string
	browser context.Context
	shots   string

	steps     int                  // pages checked so far: numbers the screenshots in order
	readCodes map[string]bool      // outbox files whose code was used
	totpSteps map[string]*int64    // per user: last TOTP step used
	lastSend  map[string]time.Time // per recipient: when a code was last asked for
	cooldown  time.Duration        // between two codes to one recipient
}

// rigConfig is what differs between journeys.
type rigConfig struct {
	policy string // the policy block's lines
	store  string // the store option; a file in the test's folder when empty
	// cooldown between two codes sent to one person: 1s when empty, so
	// journeys move on quickly.
	cooldown time.Duration
	// localhost serves the site as http://localhost:PORT, with that as its
	// site_url: passkeys need a domain (Caddy still listens on 127.0.0.1).
	localhost bool
	// appOptions are more lines of the twofactor global options.
	appOptions string
}

func startBrowserRig(t *testing.T, journey string, cfg rigConfig) *browserRig {
	t.Helper()
	dir := t.TempDir()
	if cfg.store == "" {
		cfg.store = "store file {DIR}/2fa.db"
	}
	rig := &browserRig{
		t: t, journey: journey, app: startDemoApp(t), outbox: filepath.Join(dir, "outbox"),
		shots:     screenshotDir(t),
		readCodes: map[string]bool{}, totpSteps: map[string]*int64{}, lastSend: map[string]time.Time{},
	}
	if cfg.cooldown == 0 {
		cfg.cooldown = time.Second
	}
	rig.cooldown = cfg.cooldown
	caddyfile := strings.NewReplacer("{STORE}", cfg.store+"\n\t\t"+cfg.appOptions, "{POLICY}", cfg.policy, "{COOLDOWN}", cfg.cooldown.String()).Replace(withApp(browserCaddyfile, rig.app))
	if cfg.localhost {
		caddyfile = strings.Replace(caddyfile, "http://127.0.0.1:{PORT} {\n\ttwofactor {", "http://localhost:{PORT} {\n\ttwofactor {\n\t\tsite_url http://localhost:{PORT}", 1)
	}
	rig.caddy = startCaddy(t, dir, caddyfile)
	if cfg.localhost {
		rig.caddy.URL = strings.Replace(rig.caddy.URL, "127.0.0.1", "localhost", 1)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy's log:\n%s", rig.caddy.logs)
		}
	})
	rig.browser = startChromium(t)
	return rig
}

// browserUser is one person at their own browser profile: own cookies,
// own tab.
type browserUser struct {
	rig  *browserRig
	t    *testing.T
	name string
	ctx  context.Context
	// checking is the time spent on axe and screenshots, which a real
	// user would not wait for.
	checking time.Duration
	// scriptsOff: the page's JavaScript is disabled (axe needs it only
	// while it runs).
	scriptsOff bool
	// onPage, when set, checks each of our pages more (after axe).
	onPage func()
}

// newUser opens a tab in a new browser profile (a browser context).
func (rig *browserRig) newUser(name string) *browserUser {
	t := rig.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(rig.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action opens the tab: it must run without a deadline, which
	// would otherwise end the tab with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab for %s: %v", name, err)
	}
	u := &browserUser{rig: rig, t: t, name: name, ctx: ctx}
	// Screenshots show the light scheme; check switches to dark and back.
	u.emulateColorScheme("light")
	return u
}

// do runs browser steps with a deadline.
func (u *browserUser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		u.t.Fatalf("%s, %s at %s: %v", u.name, what, u.location(), err)
	}
}

// run runs one browser action that returns a value, with a deadline.
func run[T any](u *browserUser, what string, action chromedp.Action[T]) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		u.t.Fatalf("%s, %s at %s: %v", u.name, what, u.location(), err)
	}
	return v
}

// navigate runs steps that load a page and waits for it, then checks the
// page (every page a journey visits is checked); it returns the page's
// HTTP response (after redirects).
func (u *browserUser) navigate(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		u.t.Fatalf("%s, %s: %v", u.name, what, err)
	}
	u.check(pageName(resp))
	return resp
}

// pageName names a page for its screenshots after its path and, unless it
// is 200, its status: "2fa-verify-totp-422", "app-reports".
func pageName(resp *network.Response) string {
	path := "/"
	if parsed, err := url.Parse(resp.URL); err == nil {
		path = parsed.Path
	}
	name := "app-" + strings.ReplaceAll(strings.Trim(path, "/"), "/", "-")
	if rest, ours := strings.CutPrefix(path, gatewayPrefix); ours {
		name = strings.TrimSuffix("2fa-"+strings.ReplaceAll(strings.Trim(rest, "/"), "/", "-"), "-")
	}
	if path == "/" {
		name = "app-home"
	}
	if resp.Status != 200 {
		name += "-" + strconv.FormatInt(resp.Status, 10)
	}
	return name
}

func (u *browserUser) open(path string) *network.Response {
	u.t.Helper()
	return u.navigate("opening "+path, chromedp.Navigate(u.rig.caddy.URL+path))
}

// press clicks a link or button and waits for the page it leads to.
func (u *browserUser) press(selector string) *network.Response {
	u.t.Helper()
	return u.navigate("pressing "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// location is the path (and query) of the page the user is on.
func (u *browserUser) location() string {
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	if parsed, err := url.Parse(loc); err == nil {
		return parsed.RequestURI()
	}
	return loc
}

func (u *browserUser) wantPage(path string) {
	u.t.Helper()
	if at := u.location(); at != path {
		u.t.Fatalf("%s should be on %s, is on %s:\n%s", u.name, path, at, u.pageText())
	}
}

// pageText is the text of the whole page, for failure messages: it does
// not wait for any element, which the page may not have.
func (u *browserUser) pageText() string {
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return text
}

// text is the visible text of the first element the CSS selector finds.
// The page has loaded, so a missing element fails after a short wait,
// with what the page says instead.
func (u *browserUser) text(selector string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 3*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		u.t.Fatalf("%s at %s: no %s (%v); the page says:\n%s", u.name, u.location(), selector, err, u.pageText())
	}
	return strings.TrimSpace(text)
}

func (u *browserUser) wantText(selector, want string) {
	u.t.Helper()
	if got := u.text(selector); !strings.Contains(got, want) {
		u.t.Fatalf("%s at %s: %s says %q, want %q; the page says:\n%s", u.name, u.location(), selector, got, want, u.pageText())
	}
}

func (u *browserUser) typeInto(id, text string) {
	u.t.Helper()
	u.do("typing into #"+id, chromedp.SendKeys(chromedp.ID(id), text))
}

// setChecked ticks or unticks a checkbox the way a person does: a click,
// only when it is not already as wanted.
func (u *browserUser) setChecked(id string, want bool) {
	u.t.Helper()
	checked := run(u, "reading #"+id, chromedp.JavascriptAttribute[bool](chromedp.ID(id), "checked"))
	if checked != want {
		u.do("clicking #"+id, chromedp.Click(chromedp.ID(id)))
	}
}

// login signs in to the legacy app with its own form.
func (u *browserUser) login(password, next string) {
	u.t.Helper()
	u.open("/login?next=" + next)
	u.typeInto("username", u.name)
	u.typeInto("password", password)
	u.press(appLoginButton)
}

const appLoginButton = `form[action="/login"] button[type=submit]`

// logout goes back to the app and logs out there, as a person would.
func (u *browserUser) logout() {
	u.t.Helper()
	u.open("/")
	u.press("form.logout button")
	u.wantPage("/login")
}

// enterCode types a code into the one code field and submits its form.
func (u *browserUser) enterCode(code string) *network.Response {
	u.t.Helper()
	u.typeInto("code", code)
	return u.press("form:has(#code) button[type=submit]")
}

// wantApp: the user is in the app, on path.
func (u *browserUser) wantApp(path string) {
	u.t.Helper()
	u.wantPage(path)
	u.wantText("#signed-in-as", "Signed in as "+u.name)
}

// totpKey reads the key from the enrollment page, as a person types it
// into their authenticator app.
func (u *browserUser) totpKey() string {
	u.t.Helper()
	key := u.text("#totp-key")
	if key == "" {
		u.t.Fatalf("%s: no key on %s", u.name, u.location())
	}
	return key
}

// totpCode is what the user's authenticator app shows next: each code is
// accepted once, so a user's codes come from successive steps.
func (rig *browserRig) totpCode(user, key string) string {
	step, ok := rig.totpSteps[user]
	if !ok {
		step = new(int64)
		rig.totpSteps[user] = step
	}
	return nextStepCode(rig.t, key, step)
}

var emailCodeSubject = regexp.MustCompile(`^(\d{6}) is your `)

// codeSentTo waits for a code in the outbox that has not been used yet,
// emailed (to an address) or texted (to a number).
func (rig *browserRig) codeSentTo(to string) string {
	rig.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, err := notify.ReadOutbox(rig.outbox)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			rig.t.Fatal(err)
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			m := msgs[i]
			if m.To != to || rig.readCodes[m.Path] {
				continue
			}
			var found []string
			if m.Kind == notify.KindEmail {
				found = emailCodeSubject.FindStringSubmatch(m.Subject)
			} else {
				found = codeIn.FindStringSubmatch(m.Text)
			}
			if found != nil {
				rig.readCodes[m.Path] = true
				return found[1]
			}
		}
		if time.Now().After(deadline) {
			rig.t.Fatalf("no new code sent to %s in %s", to, rig.outbox)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendCode presses "Send code" (or "Send a new code"), after the
// configured cooldown since the last code to the same recipient.
func (u *browserUser) sendCode(selector, to string) {
	u.t.Helper()
	rig := u.rig
	if wait := time.Until(rig.lastSend[to].Add(rig.cooldown + 100*time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	u.press(selector)
	rig.lastSend[to] = time.Now()
}

// gatewayPrefix is where the gateway's pages are (the default path_prefix).
const gatewayPrefix = "/.2fa"

// gatewayStylesheet marks a page the gateway rendered: its pages under
// /.2fa, and the ones it answers in the app's place (the 503 page).
const gatewayStylesheet = gatewayPrefix + "/static/style.css"

// isGatewayPage: axe judges the gateway's pages; the demo app's are not
// ours to fix, so they are only photographed.
func (u *browserUser) isGatewayPage() bool {
	u.t.Helper()
	return run(u, "finding the stylesheet", chromedp.Evaluate[bool](
		`document.querySelector('link[rel=stylesheet][href^="`+gatewayStylesheet+`"]') !== null`))
}

// check looks at the page as it is: screenshots at both sizes and, on the
// gateway's pages, axe-core in the light and the dark colour scheme.
func (u *browserUser) check(step string) {
	u.t.Helper()
	started := time.Now()
	defer func() { u.checking += time.Since(started) }()
	u.rig.steps++
	name := fmt.Sprintf("%s-%02d-%s-%s", u.rig.journey, u.rig.steps, u.name, step)
	for _, size := range screenshotSizes {
		png := run(u, "screenshot", func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			if _, err := chromedp.EmulateViewport(size.width, size.height)(ctx, t); err != nil {
				return nil, err
			}
			// Quality 100 makes a PNG, lossless like the file's name says.
			return chromedp.FullScreenshot(100)(ctx, t)
		})
		file := filepath.Join(u.rig.shots, fmt.Sprintf("%s-%d.png", name, size.width))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			u.t.Fatal(err)
		}
	}
	path := u.location()
	if !u.isGatewayPage() {
		return
	}
	if u.scriptsOff {
		// axe-core's promise needs timers, which run only with scripts on.
		// Our pages have no scripts of their own, so nothing else changes.
		u.disableScripts(false)
		defer u.disableScripts(true)
	}
	u.injectAxe()
	for _, scheme := range []string{"light", "dark"} {
		u.emulateColorScheme(scheme)
		for _, v := range u.axeViolations() {
			u.t.Errorf("axe, %s (%s scheme) at %s: %s [%s] %s\n\ton: %s\n\t%s",
				name, scheme, path, v.ID, v.Impact, v.Help, strings.Join(v.Targets, " | "), strings.ReplaceAll(v.Summary, "\n", "\n\t"))
		}
	}
	u.emulateColorScheme("light")
	if u.onPage != nil {
		u.onPage()
	}
}

func (u *browserUser) disableScripts(disabled bool) {
	u.t.Helper()
	u.do("switching JavaScript", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: disabled})
		return err
	}))
}

func (u *browserUser) emulateColorScheme(scheme string) {
	u.t.Helper()
	u.do("emulating prefers-color-scheme: "+scheme, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// injectAxe evaluates axe-core in the page through the DevTools protocol
// (Runtime.evaluate), which the pages' script-src 'self' does not govern;
// it fails if axe did not arrive, so a CSP that blocked it cannot pass
// unnoticed.
func (u *browserUser) injectAxe() {
	u.t.Helper()
	u.do("injecting axe-core", chromedp.Evaluate[chromedp.Void](axeScript(u.t)))
	if ok := run(u, "finding axe", chromedp.Evaluate[bool](`typeof axe === "object" && typeof axe.run === "function"`)); !ok {
		u.t.Fatalf("axe-core did not load into %s", u.location())
	}
}

// axeViolation is what a failure reports of one axe-core violation.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

const runAxe = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
	id: v.id,
	impact: v.impact || '',
	help: v.help,
	targets: v.nodes.map(n => n.target.join(' ')),
	summary: v.nodes.map(n => n.failureSummary || '').join('\n'),
})))`

func (u *browserUser) axeViolations() []axeViolation {
	u.t.Helper()
	return run(u, "running axe", chromedp.Evaluate[[]axeViolation](runAxe, chromedp.EvalAwaitPromise))
}

// wantFocus checks that the element with the id has the keyboard focus.
// Browsers apply autofocus at a rendering step after the page loads, so
// it waits briefly for it.
func (u *browserUser) wantFocus(id string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement !== null && document.activeElement.id === `+strconv.Quote(id),
		chromedp.WithPollingTimeout(2*time.Second)))
	if err != nil {
		focused := run(u, "reading the focus", chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
		u.t.Fatalf("%s at %s: the focus should be on #%s, is on %q (%v)", u.name, u.location(), id, focused, err)
	}
}

// ---- journeys ----

const everyMethod = "enforce\n\t\t\t\tmethods totp email sms"

func TestBrowserFirstLoginEnrollsAnAuthenticatorApp(t *testing.T) {
	rig := startBrowserRig(t, "totp", rigConfig{policy: everyMethod})
	alice := rig.newUser("alice")

	// Our pages before signing in to the app: a pointer to the app's login.
	if resp := alice.open("/.2fa/"); resp.Status != 401 {
		t.Fatalf("the challenge pages before signing in: status %d, want 401", resp.Status)
	}

	alice.open("/reports")
	alice.wantPage("/login?next=/reports")
	alice.typeInto("username", "alice")
	alice.typeInto("password", "alice-demo")
	submitted, checkingBefore := time.Now(), alice.checking
	alice.press(appLoginButton)

	alice.wantPage("/.2fa/enroll")
	resp := alice.press("#choose-totp")
	alice.wantPage("/.2fa/enroll/totp")
	// axe runs despite the pages' strict CSP (see injectAxe): make sure the
	// CSP is really there.
	if csp := fmt.Sprint(resp.Headers["Content-Security-Policy"]); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("the enrollment page should send a strict CSP, sends %q", csp)
	}
	key := alice.totpKey()
	// Our script adds a copy button beside the key.
	alice.wantText("#copy-key", "Copy key")
	alice.enterCode(rig.totpCode("alice", key))
	alice.saveRecoveryCodes()
	alice.wantApp("/reports")
	firstTime := time.Since(submitted) - (alice.checking - checkingBefore)
	t.Logf("a scripted first-time user took %v from submitting the app's login to the app page, TOTP enrollment included (not counting %v of axe and screenshots)",
		firstTime.Round(time.Millisecond), (alice.checking - checkingBefore).Round(time.Millisecond))

	alice.open("/.2fa/methods")

	// A new app session asks for a code: verification, not enrollment.
	alice.logout()
	alice.login("alice-demo", "/settings")
	alice.wantPage("/.2fa/verify/totp")
	alice.enterCode(rig.totpCode("alice", key))
	alice.wantApp("/settings")
}

func TestBrowserPagesWorkWithoutJavaScript(t *testing.T) {
	rig := startBrowserRig(t, "nojs", rigConfig{policy: everyMethod})
	bob := rig.newUser("bob")
	bob.disableScripts(true)
	bob.scriptsOff = true
	bob.open("/login?next=/reports")
	// The app's login page has no CSP: an inline script would run there if
	// scripts were on.
	ran := run(bob, "trying an inline script", chromedp.Evaluate[bool](`(() => {
		const s = document.createElement("script");
		s.textContent = "window.inlineScriptRan = true";
		document.head.appendChild(s);
		return window.inlineScriptRan === true;
	})()`))
	if ran {
		t.Fatal("JavaScript should be disabled in this journey")
	}
	bob.typeInto("username", "bob")
	bob.typeInto("password", "bob-demo")
	bob.press(appLoginButton)
	bob.wantPage("/.2fa/enroll")
	bob.press("#choose-totp")
	bob.wantPage("/.2fa/enroll/totp")
	if run(bob, "looking for the copy button", chromedp.Evaluate[bool](`document.getElementById("copy-key") !== null`)) {
		t.Fatal("a copy button without JavaScript: the page should show only the key")
	}
	bob.enterCode(rig.totpCode("bob", bob.totpKey()))
	bob.saveRecoveryCodes()
	bob.wantApp("/reports")
}

func TestBrowserEmailCodes(t *testing.T) {
	// A cooldown long enough that the wait is still on when the page is
	// read, however slow the machine.
	rig := startBrowserRig(t, "email", rigConfig{policy: everyMethod, cooldown: 5 * time.Second})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/enroll")
	bob.press("#choose-email")
	bob.wantPage("/.2fa/enroll/email")
	bob.sendCode("#send", "bob@acme.example")
	bob.wantPage("/.2fa/enroll/email")
	bob.wantText("#sent-to", "We sent a 6-digit code")
	// Our script counts the resend wait down.
	waitText := func() string {
		return run(bob, "reading the resend wait", chromedp.Evaluate[string](`(document.getElementById("resend-wait") || {}).textContent || ""`))
	}
	before := waitText()
	if !strings.Contains(before, "You can ask for a new code in") {
		t.Fatalf("no resend wait after sending a code: %q", before)
	}
	time.Sleep(1300 * time.Millisecond)
	if after := waitText(); after == before {
		t.Errorf("the resend wait did not count down: still %q", after)
	}
	bob.enterCode(rig.codeSentTo("bob@acme.example"))
	bob.saveRecoveryCodes()
	bob.wantApp("/reports")

	bob.logout()
	bob.login("bob-demo", "/settings")
	bob.wantPage("/.2fa/verify/email")
	bob.sendCode("#send", "bob@acme.example")
	bob.enterCode(rig.codeSentTo("bob@acme.example"))
	bob.wantApp("/settings")
}

func TestBrowserSMSCodes(t *testing.T) {
	rig := startBrowserRig(t, "sms", rigConfig{policy: everyMethod})
	carol := rig.newUser("carol")
	carol.login("carol-demo", "/account")
	carol.wantPage("/.2fa/enroll")
	carol.press("#choose-sms")
	carol.wantPage("/.2fa/enroll/sms")
	// The app knows her number; the page offers it, masked.
	carol.wantText("#known-phone", "+1******0103")
	carol.sendCode("#send", "+14155550103")
	carol.wantText("#sent-to", "We sent a 6-digit code")
	carol.enterCode(rig.codeSentTo("+14155550103"))
	carol.saveRecoveryCodes()
	carol.wantApp("/account")
}

func TestBrowserRememberThisDevice(t *testing.T) {
	rig := startBrowserRig(t, "remember", rigConfig{policy: "enforce\n\t\t\t\tmethods totp\n\t\t\t\tremember 30d"})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	// The only method: straight to setting it up.
	bob.wantPage("/.2fa/enroll/totp")
	bob.setChecked("remember", true)
	key := bob.totpKey()
	bob.enterCode(rig.totpCode("bob", key))
	bob.saveRecoveryCodes()
	bob.wantApp("/reports")

	// A new app session on this device: no challenge.
	bob.logout()
	bob.login("bob-demo", "/settings")
	bob.wantApp("/settings")

	bob.open("/.2fa/devices")
	bob.wantText("#current-device", "This device")
	// The device let this session in without a code: removing devices
	// asks for one first, then comes back.
	bob.press("#devices form button[type=submit]")
	bob.wantPage("/.2fa/verify/totp")
	bob.enterCode(rig.totpCode("bob", key))
	bob.wantPage("/.2fa/devices")
	bob.press("#devices form button[type=submit]")
	bob.wantPage("/.2fa/devices")
	bob.wantText("#no-devices", "No trusted devices")

	bob.logout()
	bob.login("bob-demo", "/account")
	bob.wantPage("/.2fa/verify/totp")
}

func TestBrowserAdminEnablesTwoFactorAndResetsAUser(t *testing.T) {
	// Off until an admin turns it on.
	rig := startBrowserRig(t, "admin", rigConfig{policy: "methods totp"})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.wantApp("/reports")

	alice := rig.newUser("alice")
	alice.login("alice-demo", "/")
	alice.wantApp("/")
	alice.open("/.2fa/admin")
	alice.wantText("#tfa-status", "Off")
	alice.press("#enable")
	alice.setChecked("method-totp", true)
	alice.setChecked("method-email", true)
	alice.setChecked("remember", true)
	alice.do("setting the days", chromedp.SetValue(chromedp.ID("remember_days"), "14"))
	alice.press("#submit")
	if at := alice.location(); !strings.HasPrefix(at, "/.2fa/admin/confirm?change=") {
		t.Fatalf("after Enable alice should confirm by code, is on %s:\n%s", at, alice.pageText())
	}
	alice.enterCode(rig.codeSentTo("alice@acme.example"))
	alice.wantText("main", "enabled for all users")

	// An admin, too, passes 2FA before the settings open again.
	alice.open("/.2fa/admin")
	alice.wantPage("/.2fa/enroll")
	alice.press("#choose-totp")
	alice.enterCode(rig.totpCode("alice", alice.totpKey()))
	alice.saveRecoveryCodes()
	alice.wantPage("/.2fa/admin")
	alice.wantText("#tfa-status", "On")

	// Bob's next login must enroll, with the methods alice chose.
	bob.logout()
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/enroll")
	bob.wantText("#choose-email", "Email")
	bob.press("#choose-totp")
	bob.enterCode(rig.totpCode("bob", bob.totpKey()))
	bob.saveRecoveryCodes()
	bob.wantApp("/reports")

	alice.open("/.2fa/admin")
	alice.press(`form[action$="/admin/users/reset"]:has(input[name="user"][value="bob"]) button[type=submit]`)
	alice.wantText("#notice", "reset for bob")
	alice.open("/.2fa/admin/audit")
	alice.open("/.2fa/admin/edit")
	for _, method := range []string{"totp", "email", "sms"} {
		alice.setChecked("method-"+method, false)
	}
	alice.press("#submit")
	alice.wantText("#form-error", "Choose at least one")
	alice.open("/.2fa/admin/disable")

	// A reset ends bob's sessions at once: his next page asks him to set
	// up two-factor authentication again.
	bob.open("/reports")
	bob.wantPage("/.2fa/enroll")
}

func TestBrowserLockoutAfterTenAttempts(t *testing.T) {
	rig := startBrowserRig(t, "lockout", rigConfig{policy: "enforce\n\t\t\t\tmethods totp"})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/enroll/totp")
	key := bob.totpKey()
	bob.enterCode(rig.totpCode("bob", key))
	bob.saveRecoveryCodes()
	bob.wantApp("/reports")
	bob.logout()
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/verify/totp")

	// Ten attempts per user per window, counted before each code is
	// compared: the enrollment's code was the first, so the 9th wrong code
	// is the tenth attempt.
	wrong := wrongTOTPCode(t, key)
	for attempt := 1; attempt <= 9; attempt++ {
		resp := bob.enterCode(wrong)
		switch attempt {
		case 1:
			if resp.Status != 422 {
				t.Fatalf("a wrong code: status %d", resp.Status)
			}
			bob.wantText("#code-error", "That code didn't work")
			// The page comes back with the field focused, ready to type.
			bob.wantFocus("code")
		case 5:
			bob.wantText("h1", "Too many wrong codes")
			bob.press("main a.button")
			bob.wantPage("/.2fa/verify/totp")
		case 9:
			bob.wantText("main", "Try again at")
		default:
			bob.wantFocus("code")
		}
	}
}

// wrongTOTPCode is a code that no step near now accepts.
func wrongTOTPCode(t *testing.T, key string) string {
	now := time.Now()
	near := map[string]bool{}
	for d := -2; d <= 2; d++ {
		near[totpNow(t, key, now.Add(time.Duration(d)*30*time.Second))] = true
	}
	for n := 0; ; n++ {
		if code := fmt.Sprintf("%06d", n*111111%1000000); !near[code] {
			return code
		}
	}
}

func TestBrowserStoreUnavailablePage(t *testing.T) {
	redis := testpeer.Redis(t)
	rig := startBrowserRig(t, "unavailable", rigConfig{policy: "enforce\n\t\t\t\tmethods totp", store: "store redis " + redis.URL() + "\n\t\tkeys " + keyring.Generate()})
	bob := rig.newUser("bob")
	bob.login("bob-demo", "/reports")
	bob.wantPage("/.2fa/enroll/totp")

	redis.Stop()
	resp := bob.open("/reports")
	if resp.Status != 503 {
		t.Fatalf("with the store down: status %d, want 503", resp.Status)
	}
	bob.wantText("h1", "temporarily unavailable")

	// Back as soon as the store is.
	redis.Start()
	bob.press("main a.button")
	bob.wantPage("/.2fa/enroll/totp")
}

// A cookie the app could read as its session under another spelling (here
// PHP's: a dot for the underscore) gets a page that says what to do, and
// the odd cookie is cleared, so signing in again works.
func TestBrowserMalformedCookiePage(t *testing.T) {
	rig := startBrowserRig(t, "malformed-cookie", rigConfig{policy: "enforce\n\t\t\t\tmethods totp", store: "store file {DIR}/2fa.db"})
	bob := rig.newUser("bob")
	bob.open("/login")
	bob.do("planting a cookie", chromedp.Evaluate[chromedp.Void](`document.cookie = "legacy.session=planted; path=/"`))
	resp := bob.open("/reports")
	if resp.Status != 400 {
		t.Fatalf("with a look-alike session cookie: status %d, want 400", resp.Status)
	}
	bob.wantText("h1", "malformed cookie")
	bob.wantText("main", "sign in again")
	bob.press("main a.button")
	bob.wantPage("/login?next=/")
}
