package locale

import (
	"encoding/json"
	htmltemplate "html/template"
	"strconv"
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Words are one language's messages. A nil *Words speaks English.
type Words struct {
	tag     language.Tag
	loc     *i18n.Localizer
	printer *message.Printer
	dir     string
	raw     map[string]*i18n.Message // the language's messages as written
}

func newWords(b *i18n.Bundle, t language.Tag, raw map[string]*i18n.Message) *Words {
	w := &Words{tag: t, loc: i18n.NewLocalizer(b, t.String(), English), printer: message.NewPrinter(t), raw: raw}
	w.dir = "ltr"
	if w.T("language.direction") == "rtl" {
		w.dir = "rtl"
	}
	return w
}

func (w *Words) self() *Words {
	if w == nil {
		return Default().words[English]
	}
	return w
}

// Lang is the language's tag ("de"), for lang attributes and records.
func (w *Words) Lang() string { return w.self().tag.String() }

// Dir is the writing direction, "ltr" or "rtl".
func (w *Words) Dir() string { return w.self().dir }

// Name is the language's name in itself ("Deutsch").
func (w *Words) Name() string { return w.T("language.name") }

// T is the message id, filled in with args: pairs of a name and a value
// ("Org", "Acme"). A message no language has reads as its id, so a
// missing one shows on the page rather than vanishing (the tests check
// that none is missing).
func (w *Words) T(id string, args ...any) string {
	return w.localize(id, nil, args)
}

// N is the message id in the plural form for count, which its template
// reads as {{.Count}} (written the language's way: "1.000" in German).
func (w *Words) N(id string, count int, args ...any) string {
	return w.localize(id, count, append(args, "Count", w.Number(count)))
}

func (w *Words) localize(id string, count any, args []any) string {
	s, err := w.lookup(id, count, args)
	if err != nil && s == "" {
		return id
	}
	return s
}

// lookup is the message and what went wrong finding it (a missing plural
// form reads as the "other" form, with an error).
func (w *Words) lookup(id string, count any, args []any) (string, error) {
	w = w.self()
	cfg := &i18n.LocalizeConfig{MessageID: id, PluralCount: count}
	if len(args) > 0 {
		data := make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			name, _ := args[i].(string)
			data[name] = args[i+1]
		}
		cfg.TemplateData = data
	}
	return w.loc.Localize(cfg)
}

// H is T for a message written in HTML (a link, emphasis): the args are
// escaped, the message itself is trusted (ours, or the operator's).
func (w *Words) H(id string, args ...any) htmltemplate.HTML {
	for i := 1; i < len(args); i += 2 {
		if s, ok := args[i].(string); ok {
			args[i] = htmltemplate.HTMLEscapeString(s)
		}
	}
	return htmltemplate.HTML(w.T(id, args...))
}

// Number is n written the language's way.
func (w *Words) Number(n int) string {
	w = w.self()
	if n > -1000 && n < 1000 {
		return strconv.Itoa(n)
	}
	return w.printer.Sprint(n)
}

// Date is a day written the language's way: "1 December 2026".
func (w *Words) Date(t time.Time) string {
	t = t.UTC()
	return w.T("format.date", "Day", w.Number(t.Day()), "Month", w.T("format.month."+strconv.Itoa(int(t.Month()))), "Year", strconv.Itoa(t.Year()))
}

// DateTime is a moment every reader can place: the date and the time of
// day in UTC ("1 December 2026, 14:05 UTC").
func (w *Words) DateTime(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return w.T("format.datetime", "Date", w.Date(t), "Time", t.UTC().Format("15:04"))
}

// Duration says a duration in words, rounded down to its largest unit so
// it never promises more time than there is: "10 minutes", "1 hour",
// "3 days", "45 seconds".
func (w *Words) Duration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour || d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return w.N("duration.days", int(d/(24*time.Hour)))
	case d >= time.Hour && d%time.Hour == 0 || d >= 2*time.Hour:
		return w.N("duration.hours", int(d/time.Hour))
	case d >= time.Minute:
		return w.N("duration.minutes", int(d/time.Minute))
	default:
		return w.N("duration.seconds", max(1, int(d/time.Second)))
	}
}

// Funcs are the template functions of the language, for html/template
// and text/template alike: t (T), n (N), h (H), date, datetime, duration,
// number.
func (w *Words) Funcs() map[string]any {
	return map[string]any{
		"t":        w.T,
		"n":        w.N,
		"h":        w.H,
		"date":     w.Date,
		"datetime": w.DateTime,
		"duration": w.Duration,
		"number":   w.Number,
		"lang":     w.Lang,
		"dir":      w.Dir,
		"forms":    w.ScriptForms,
	}
}

// Forms are the plural forms of a message as written ("one", "other"),
// English's where the language has none of its own; for tools that
// derive message files (the pseudo-locale of the tests).
func (w *Words) Forms(id string) map[string]string {
	w = w.self()
	out := map[string]string{}
	m, ok := w.raw[id]
	if !ok {
		return out
	}
	for form, s := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if s != "" {
			out[form] = s
		}
	}
	return out
}

// Has reports whether the message exists (in English, so in every
// shipped language).
func (w *Words) Has(id string) bool {
	_, ok := w.self().english().raw[id]
	return ok
}

// ScriptForms are a plural message's forms for a page's script, as JSON:
// {"one": "… {n} …", "other": "…"}, the count written {n} (the script
// picks the form with Intl.PluralRules of the page's language).
func (w *Words) ScriptForms(id string) string {
	forms := w.Forms(id)
	if len(forms) == 0 {
		forms = w.self().english().Forms(id)
	}
	for form, s := range forms {
		forms[form] = strings.ReplaceAll(s, "{{.Count}}", "{n}")
	}
	b, _ := json.Marshal(forms)
	return string(b)
}

func (w *Words) english() *Words { return Default().words[English] }

// String is the tag, for logs.
func (w *Words) String() string { return w.Lang() }

// Base is the language without its region ("pt" of "pt-BR").
func (w *Words) Base() string {
	b, _ := w.self().tag.Base()
	return strings.ToLower(b.String())
}
