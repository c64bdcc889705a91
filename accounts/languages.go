package accounts

import (
	"context"
	"errors"

	"github.com/caddy2fa/caddy2fa/store"
)

// Languages keep each user's language on their record: the one they chose
// in a page's footer, and the one of their last page.
type Languages struct {
	Store store.Backend
	Realm string
}

// Language is the user's choice and their last page's language.
func (l Languages) Language(ctx context.Context, user string) (chosen, seen string, err error) {
	u, err := GetUser(ctx, l.Store, l.Realm, user)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil
	} else if err != nil {
		return "", "", err
	}
	return u.Language, u.SeenLanguage, nil
}

// SetLanguage stores the user's choice (chosen) or their last page's
// language; an unchanged one is not written.
func (l Languages) SetLanguage(ctx context.Context, user, lang string, chosen bool) error {
	_, err := UpdateUser(ctx, l.Store, l.Realm, user, func(u *User) error {
		field := &u.SeenLanguage
		if chosen {
			field = &u.Language
		}
		if *field == lang {
			return store.ErrAbort
		}
		*field = lang
		return nil
	})
	if errors.Is(err, store.ErrAbort) {
		return nil
	}
	return err
}
