// Package pages is what every page of ours shares: the layout, branding
// (logo and accent), static files, security headers, the message page,
// CSRF tokens, JSON answers, safe return paths and the wording of the
// gateway's refusals. The challenge and the org-admin pages each bring
// their own templates and render them here.
package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/locale"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Content-Security-Policy of every page: nothing from elsewhere, no
// scripts but our own file, no framing (clickjacking).
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config is one site's look.
type Config struct {
	// Prefix is where our pages live ("/.2fa").
	Prefix string
	// Org is the organisation's name, in every page's header and title.
	Org string
	// Brand is the logo and accent.
	Brand Branding
	// Logger hears of pages that failed.
	Logger *slog.Logger
	// OnEvent is told of notable events (metrics).
	OnEvent func(name string)
	// Catalog is the messages of every language (nil: the shipped ones).
	Catalog *locale.Catalog
	// Language is the realm's default language, for users whose browser
	// asks for none we speak ("": English).
	Language string
	// Languages remembers each user's language; nil: the browser's only.
	Languages LanguageStore
}

// Site is one site's look: the layout and the static files it links.
type Site struct {
	cfg      Config
	base     map[string]*template.Template // layout and shared partials, by language
	message  map[string]*template.Template
	static   map[string]staticFile
	cssPath  string
	jsPath   string
	logoPath string // "" without a logo
}

type staticFile struct {
	body        []byte
	etag        string
	contentType string
}

// New builds a site's look; it refuses a logo or accent it cannot use.
func New(cfg Config) (*Site, error) {
	if cfg.Prefix == "" {
		return nil, errors.New("pages: a prefix is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(string) {}
	}
	if cfg.Catalog == nil {
		cfg.Catalog = locale.Default()
	}
	s := &Site{cfg: cfg, static: map[string]staticFile{}, base: map[string]*template.Template{}}
	for _, lang := range cfg.Catalog.Languages() {
		words := cfg.Catalog.Words(lang)
		base, err := template.New("layout.html").Funcs(words.Funcs()).ParseFS(templateFiles, "templates/layout.html", "templates/_*.html")
		if err != nil {
			return nil, err
		}
		s.base[lang] = base
	}
	var err error
	if s.message, err = s.parse(templateFiles, "templates/message.html"); err != nil {
		return nil, err
	}
	if err := s.loadStatic(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Site) loadStatic() error {
	err := fs.WalkDir(staticFiles, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFiles.ReadFile(path)
		if err != nil {
			return err
		}
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(path, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		s.static["/"+path] = newStaticFile(body, ct)
		return nil
	})
	if err != nil {
		return err
	}
	accent, err := accentCSS(s.cfg.Brand.Accent)
	if err != nil {
		return err
	}
	if accent != "" {
		css := s.static["/static/style.css"]
		s.static["/static/style.css"] = newStaticFile(append(bytes.Clone(css.body), accent...), css.contentType)
	}
	if s.cfg.Brand.Logo != nil {
		ct, err := LogoType(s.cfg.Brand.Logo)
		if err != nil {
			return err
		}
		s.static["/static/logo"] = newStaticFile(s.cfg.Brand.Logo, ct)
		s.logoPath = s.versioned("/static/logo")
	}
	s.cssPath = s.versioned("/static/style.css")
	s.jsPath = s.versioned("/static/app.js")
	return nil
}

func newStaticFile(body []byte, contentType string) staticFile {
	sum := sha256.Sum256(body)
	return staticFile{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: contentType}
}

// versioned is a static file's URL with its hash, so it can be cached for
// a year and still change when it does.
func (s *Site) versioned(path string) string {
	return s.cfg.Prefix + path + "?v=" + s.static[path].etag[1:9]
}

// Prefix is where our pages live.
func (s *Site) Prefix() string { return s.cfg.Prefix }

// Org is the organisation's name.
func (s *Site) Org() string { return s.cfg.Org }

// parse joins a page's template (with the partials of its own folder) to
// the layout, once for each language: its words are the template's
// functions.
func (s *Site) parse(fsys fs.FS, page string) (map[string]*template.Template, error) {
	dir := page[:strings.LastIndexByte(page, '/')+1]
	patterns := []string{page}
	if partials, _ := fs.Glob(fsys, dir+"_*.html"); len(partials) > 0 {
		patterns = append(patterns, dir+"_*.html")
	}
	out := make(map[string]*template.Template, len(s.base))
	for lang, base := range s.base {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if out[lang], err = t.ParseFS(fsys, patterns...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Templates are one package's pages, each in the site's layout.
type Templates struct {
	site  *Site
	pages map[string]map[string]*template.Template // by name, then language
	wide  bool
}

// Templates parses every templates/NAME.html of fsys (files starting with
// "_" are partials the pages share). Wide pages hold tables.
func (s *Site) Templates(fsys fs.FS, wide bool) (*Templates, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	t := &Templates{site: s, pages: map[string]map[string]*template.Template{}, wide: wide}
	for _, n := range names {
		if strings.HasPrefix(n, "templates/_") {
			continue
		}
		page, err := s.parse(fsys, n)
		if err != nil {
			return nil, err
		}
		t.pages[n[len("templates/"):len(n)-len(".html")]] = page
	}
	return t, nil
}

// page is what every template receives.
type page struct {
	Title string
	Lang  string
	Dir   string
	// Language is the footer's language selector ("": not signed in).
	Language *languageForm
	Org      string
	Prefix   string
	CSSPath  string
	JSPath   string
	LogoPath string
	// PasskeyJSPath is the passkey script, on the pages that need it.
	PasskeyJSPath string
	Wide          bool // tables: the admin pages
	Data          any
}

// Render writes the named page in the request's language; title is the
// id of its title's message.
func (t *Templates) Render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t.site.render(w, r, status, t.page(name), name, page{Title: t.site.Words(r).T(title), Wide: t.wide, Data: data})
}

// RenderPasskey writes the named page with the passkey script.
func (t *Templates) RenderPasskey(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t.site.render(w, r, status, t.page(name), name, page{Title: t.site.Words(r).T(title), Wide: t.wide, Data: data, PasskeyJSPath: t.site.versioned("/static/passkey.js")})
}

func (t *Templates) page(name string) map[string]*template.Template {
	p, ok := t.pages[name]
	if !ok {
		panic("pages: no template " + name)
	}
	return p
}

func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, byLang map[string]*template.Template, name string, p page) {
	words := s.Words(r)
	t := byLang[words.Lang()]
	p.Lang, p.Dir, p.Language = words.Lang(), words.Dir(), s.languageForm(w, r, words)
	p.Org, p.Prefix, p.CSSPath, p.JSPath, p.LogoPath = s.cfg.Org, s.cfg.Prefix, s.cssPath, s.jsPath, s.logoPath
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.cfg.Logger.Error("rendering a page failed", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	SecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// SecurityHeaders go on every response of ours.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Message is a page that says something and offers one way on.
type Message struct {
	Title    string
	Lines    []string
	LinkText string
	LinkURL  string
}

// Message writes a message page; its words are the caller's, in the
// request's language (Words).
func (s *Site) Message(w http.ResponseWriter, r *http.Request, status int, m Message) {
	s.render(w, r, status, s.message, "message", page{Title: m.Title, Data: m})
}

// ServeStatic serves one of the static files (the stylesheet, the script,
// the logo) when path names one.
func (s *Site) ServeStatic(w http.ResponseWriter, r *http.Request, path string) bool {
	f, ok := s.static[path]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	// Opened on its own, an SVG logo is a document: it may not run
	// anything in our origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	return true
}
