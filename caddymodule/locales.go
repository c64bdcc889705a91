package caddymodule

import (
	"fmt"
	"os"

	"github.com/caddy2fa/caddy2fa/locale"
)

// loadCatalog is the shipped messages with the operator's folder of
// message files over them ("": none).
func loadCatalog(dir string) (*locale.Catalog, error) {
	if dir == "" {
		return locale.Default(), nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("twofactor locales: %q is not a folder of message files", dir)
	}
	c, err := locale.New(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("twofactor %w", err)
	}
	return c, nil
}

// messages is the app's catalog (the shipped one for an app built
// without Provision, in tests).
func (a *App) messages() *locale.Catalog {
	if a == nil || a.catalog == nil {
		return locale.Default()
	}
	return a.catalog
}

// checkLanguage refuses a realm default language the catalog lacks.
func (a *App) checkLanguage(realm string, c *RealmConfig) error {
	if c.Language != "" && !a.messages().Has(c.Language) {
		return fmt.Errorf("realm %q: language %q has no messages (there are: %v)", realm, c.Language, a.messages().Languages())
	}
	return nil
}
