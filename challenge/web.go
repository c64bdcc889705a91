package challenge

import (
	"net/http"

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

func (w *web) render(rw http.ResponseWriter, status int, name, title string, data any) {
	w.tpl.Render(rw, status, name, title, data)
}

func (w *web) message(rw http.ResponseWriter, status int, m pages.Message) {
	w.site.Message(rw, status, m)
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
