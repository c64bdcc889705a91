package pages

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy2fa/caddy2fa/identity"
	"github.com/caddy2fa/caddy2fa/locale"
)

// LanguageStore remembers the language of each user: the one they chose,
// and the one of their last page (the emails' language until they choose).
type LanguageStore interface {
	// Language is the user's choice and their last page's language ("" each
	// when not known).
	Language(ctx context.Context, user string) (chosen, seen string, err error)
	// SetLanguage stores the user's choice (chosen) or their last page's
	// language.
	SetLanguage(ctx context.Context, user, lang string, chosen bool) error
}

type requestLanguage struct {
	words *locale.Words
	// token is the CSRF token of the footer's language form ("" when the
	// request is not a signed-in user's).
	token func() string
}

type languageKey struct{}

// Words are the words of the request's language: the signed-in user's
// choice, else the browser's Accept-Language, else the realm's default.
func (s *Site) Words(r *http.Request) *locale.Words {
	if rl, ok := r.Context().Value(languageKey{}).(*requestLanguage); ok {
		return rl.words
	}
	return s.cfg.Catalog.Choose("", r.Header.Get("Accept-Language"), s.cfg.Language)
}

// Catalog is the site's messages.
func (s *Site) Catalog() *locale.Catalog { return s.cfg.Catalog }

// withLanguage settles a signed-in user's language for the rest of the
// request, and remembers it as their last page's language when it
// changed. The store failing is no reason to refuse a page: the
// browser's language stands in.
func (s *Site) withLanguage(w http.ResponseWriter, r *http.Request, csrf CSRF, id identity.Identity) *http.Request {
	var chosen, seen string
	if s.cfg.Languages != nil {
		var err error
		if chosen, seen, err = s.cfg.Languages.Language(r.Context(), id.ID); err != nil {
			s.cfg.Logger.Warn("reading a user's language failed", "error", err)
		}
	}
	words := s.cfg.Catalog.Choose(chosen, r.Header.Get("Accept-Language"), s.cfg.Language)
	if s.cfg.Languages != nil && chosen == "" && seen != words.Lang() {
		if err := s.cfg.Languages.SetLanguage(r.Context(), id.ID, words.Lang(), false); err != nil {
			s.cfg.Logger.Warn("storing a user's language failed", "error", err)
		}
	}
	rl := &requestLanguage{words: words, token: func() string { return csrf.Token(w, r, id.ID) }}
	return r.WithContext(context.WithValue(r.Context(), languageKey{}, rl))
}

// languageForm is the footer's language selector.
type languageForm struct {
	Action  string
	CSRF    string
	Return  string
	Options []languageOption
}

type languageOption struct {
	Tag, Name string
	Current   bool
}

func (s *Site) languageForm(w http.ResponseWriter, r *http.Request, words *locale.Words) *languageForm {
	rl, ok := r.Context().Value(languageKey{}).(*requestLanguage)
	if !ok || s.cfg.Languages == nil || len(s.cfg.Catalog.Languages()) < 2 {
		return nil
	}
	f := &languageForm{Action: s.cfg.Prefix + "/language", CSRF: rl.token(), Return: r.URL.RequestURI()}
	if r.Method != http.MethodGet {
		f.Return = r.URL.Path
	}
	for _, lang := range s.cfg.Catalog.Languages() {
		f.Options = append(f.Options, languageOption{Tag: lang, Name: s.cfg.Catalog.Words(lang).Name(), Current: lang == words.Lang()})
	}
	return f
}

// ChooseLanguage is the language selector's form: it stores the user's
// choice and sends them back to the page they were on.
func (s *Site) ChooseLanguage(w http.ResponseWriter, r *http.Request, id identity.Identity) error {
	lang := r.PostFormValue("lang")
	if r.Method != http.MethodPost || !s.cfg.Catalog.Has(lang) || s.cfg.Languages == nil {
		s.NotFound(w, r)
		return nil
	}
	if err := s.cfg.Languages.SetLanguage(r.Context(), id.ID, lang, true); err != nil {
		return err
	}
	Redirect(w, r, s.languageReturn(r.PostFormValue("return")))
	return nil
}

// languageReturn is where the selector sends the user back: the page
// they were on, when it is a path on this site (our own pages included).
func (s *Site) languageReturn(raw string) string {
	if to := SafeReturnPath(raw, s.cfg.Prefix); to != "/" || raw == "/" {
		return to
	}
	u, err := url.Parse(raw)
	if err != nil || !s.own(u.Path) || SafeReturnPath(strings.Replace(raw, s.cfg.Prefix, "", 1), s.cfg.Prefix) == "/" {
		return s.cfg.Prefix + "/"
	}
	return raw
}
