package challenge

import (
	"net/http"

	"github.com/caddy2fa/caddy2fa/locale"
	"github.com/caddy2fa/caddy2fa/pages"
)

// web is how the pages answer: in the site's look, with its CSRF tokens.
type web struct {
	site   *pages.Site
	tpl    *pages.Templates
	csrf   pages.CSRF
	prefix string
}

func (w *web) handle(h pages.HandlerFunc) http.Handler { return w.site.Handle(w.csrf, h) }

// render writes a page in the request's language; title is its title's
// message id.
func (w *web) render(rw http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	w.tpl.Render(rw, r, status, name, title, data)
}

// words are the request's language.
func (w *web) words(r *http.Request) *locale.Words { return w.site.Words(r) }

func (w *web) message(rw http.ResponseWriter, r *http.Request, status int, m pages.Message) {
	w.site.Message(rw, r, status, m)
}

func (w *web) redirect(rw http.ResponseWriter, r *http.Request, to string) {
	pages.Redirect(rw, r, to)
}

// token is the CSRF token of a form for user.
func (w *web) token(rw http.ResponseWriter, r *http.Request, user string) string {
	return w.csrf.Token(rw, r, user)
}

// path is one of our pages' paths.
func (w *web) path(p string) string { return w.prefix + p }
