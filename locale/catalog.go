// Package locale is the user's language: the message catalogs (embedded
// TOML files, one per area and language, plus the operator's own), which
// language a request or a user gets, and the words for numbers, dates and
// durations in it.
package locale

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.toml
var shipped embed.FS

// English is the language every message is written in first, and the one
// used when nothing better is known.
const English = "en"

// Catalog holds the messages of every language we speak.
type Catalog struct {
	bundle  *i18n.Bundle
	tags    []language.Tag // English first, then the others by tag
	matcher language.Matcher
	words   map[string]*Words                   // by tag
	raw     map[string]map[string]*i18n.Message // each language's own messages, by id
}

// New reads the shipped messages and then the operator's (overrides may
// be nil): every *.toml file there whose name ends in a language tag
// ("de.toml", "extra.de.toml") adds to that language or replaces its
// messages key by key.
func New(overrides fs.FS) (*Catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{bundle: b, words: map[string]*Words{}, raw: map[string]map[string]*i18n.Message{}}
	if err := c.loadDir(shipped, "locales"); err != nil {
		return nil, err
	}
	if overrides != nil {
		if err := c.loadDir(overrides, "."); err != nil {
			return nil, fmt.Errorf("locales: %w", err)
		}
	}
	for _, t := range b.LanguageTags() {
		if t != language.English {
			c.tags = append(c.tags, t)
		}
	}
	slices.SortFunc(c.tags, func(a, b language.Tag) int { return strings.Compare(a.String(), b.String()) })
	c.tags = append([]language.Tag{language.English}, c.tags...)
	c.matcher = language.NewMatcher(c.tags)
	for _, t := range c.tags {
		c.words[t.String()] = newWords(b, t, c.raw[t.String()])
	}
	return c, nil
}

func (c *Catalog) loadDir(fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, path.Join(dir, "*.toml"))
	if err != nil {
		return err
	}
	if len(names) == 0 && dir != "locales" {
		return errors.New("no *.toml message files")
	}
	for _, n := range names {
		f, err := c.bundle.LoadMessageFileFS(fsys, n)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if f.Tag == language.Und {
			return fmt.Errorf("%s: the file name must end in a language tag, such as de.toml", n)
		}
		lang := f.Tag.String()
		if c.raw[lang] == nil {
			c.raw[lang] = map[string]*i18n.Message{}
		}
		for _, m := range f.Messages {
			c.raw[lang][m.ID] = m
		}
	}
	return nil
}

var (
	defaultOnce    sync.Once
	defaultCatalog *Catalog
)

// Default is the shipped catalog alone.
func Default() *Catalog {
	defaultOnce.Do(func() {
		c, err := New(nil)
		if err != nil {
			panic("locale: the shipped messages do not parse: " + err.Error())
		}
		defaultCatalog = c
	})
	return defaultCatalog
}

// Languages are the tags of every language with messages, English first.
func (c *Catalog) Languages() []string {
	out := make([]string, len(c.tags))
	for i, t := range c.tags {
		out[i] = t.String()
	}
	return out
}

// Has reports whether lang is one of the catalog's languages, exactly.
func (c *Catalog) Has(lang string) bool {
	_, ok := c.words[lang]
	return ok
}

// Words are the words of lang, or of the nearest language we speak
// ("de-AT" gets German), or English.
func (c *Catalog) Words(lang string) *Words {
	if w, ok := c.words[lang]; ok {
		return w
	}
	if t, err := language.Parse(lang); err == nil {
		if w := c.match([]language.Tag{t}); w != nil {
			return w
		}
	}
	return c.words[English]
}

// Choose is the language of a request: the user's own choice, else the
// browser's Accept-Language (by its q-values), else fallback (the realm's
// default), else English.
func (c *Catalog) Choose(chosen, acceptLanguage, fallback string) *Words {
	if w, ok := c.words[chosen]; ok {
		return w
	}
	if w := c.accepted(acceptLanguage); w != nil {
		return w
	}
	return c.Words(fallback)
}

// accepted is the best language of an Accept-Language header, nil when
// none of them is one we speak.
func (c *Catalog) accepted(header string) *Words {
	if header == "" || len(header) > 1024 {
		return nil
	}
	tags, q, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return nil
	}
	var wanted []language.Tag
	for i, t := range tags {
		if q[i] > 0 && t != language.Und {
			wanted = append(wanted, t)
		}
	}
	return c.match(wanted)
}

func (c *Catalog) match(wanted []language.Tag) *Words {
	if len(wanted) == 0 {
		return nil
	}
	_, i, conf := c.matcher.Match(wanted...)
	if conf == language.No {
		return nil
	}
	return c.words[c.tags[i].String()]
}

// Messages lists the ids of every message lang has of its own (not
// borrowed from English), sorted, for completeness checks.
func (c *Catalog) Messages(lang string) []string {
	ids := slices.Collect(maps.Keys(c.raw[lang]))
	slices.Sort(ids)
	return ids
}
