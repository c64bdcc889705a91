package challenge

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Content-Security-Policy of every page: nothing from elsewhere, no
// scripts but our own file, no framing (clickjacking).
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type renderer struct {
	cfg      Config
	pages    map[string]*template.Template
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

// page is what every template receives.
type page struct {
	Title    string
	Org      string
	Prefix   string
	CSSPath  string
	JSPath   string
	LogoPath string
	Wide     bool // tables: the admin pages
	Data     any
}

func newRenderer(cfg Config) (*renderer, error) {
	r := &renderer{cfg: cfg, pages: map[string]*template.Template{}, static: map[string]staticFile{}}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" || strings.HasPrefix(n, "templates/_") {
			continue
		}
		t, err := template.New("layout.html").ParseFS(templateFiles, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, err
		}
		r.pages[n[len("templates/"):len(n)-len(".html")]] = t
	}
	err = fs.WalkDir(staticFiles, "static", func(path string, d fs.DirEntry, err error) error {
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
		r.static["/"+path] = newStaticFile(body, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	accent, err := accentCSS(cfg.Brand.Accent)
	if err != nil {
		return nil, err
	}
	if accent != "" {
		css := r.static["/static/style.css"]
		r.static["/static/style.css"] = newStaticFile(append(bytes.Clone(css.body), accent...), css.contentType)
	}
	if cfg.Brand.Logo != nil {
		ct, err := LogoType(cfg.Brand.Logo)
		if err != nil {
			return nil, err
		}
		r.static["/static/logo"] = newStaticFile(cfg.Brand.Logo, ct)
		r.logoPath = r.versioned("/static/logo")
	}
	r.cssPath = r.versioned("/static/style.css")
	r.jsPath = r.versioned("/static/app.js")
	return r, nil
}

func newStaticFile(body []byte, contentType string) staticFile {
	sum := sha256.Sum256(body)
	return staticFile{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: contentType}
}

// versioned is a static file's URL with its hash, so it can be cached for
// a year and still change when it does.
func (r *renderer) versioned(path string) string {
	return r.cfg.PathPrefix + path + "?v=" + r.static[path].etag[1:9]
}

// securityHeaders go on every response of ours.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (r *renderer) render(w http.ResponseWriter, status int, name, title string, data any) {
	t, ok := r.pages[name]
	if !ok {
		panic("challenge: no template " + name)
	}
	var buf bytes.Buffer
	err := t.Execute(&buf, page{Title: title, Org: r.cfg.Issuer, Prefix: r.cfg.PathPrefix, CSSPath: r.cssPath, JSPath: r.jsPath, LogoPath: r.logoPath, Wide: strings.HasPrefix(name, "admin"), Data: data})
	if err != nil {
		r.cfg.Logger.Error("rendering a page failed", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// messagePage is a page that says something and offers one way on.
type messagePage struct {
	Title    string
	Lines    []string
	LinkText string
	LinkURL  string
}

func (r *renderer) message(w http.ResponseWriter, req *http.Request, status int, m messagePage) {
	r.render(w, status, "message", m.Title, m)
}

func (r *renderer) serveStatic(w http.ResponseWriter, req *http.Request, path string) bool {
	f, ok := r.static[path]
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
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(f.body))
	return true
}
