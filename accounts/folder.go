package accounts

import (
	"sync"
	"time"
)

// Folder keeps a flood of one kind of audit event from filling the log:
// it lets one event per key through per window and counts the others,
// which the next one that gets through reports. It holds at most maxKeys
// keys; beyond that, events of new keys are counted nowhere and not
// written (the flood is already in the log).
type Folder struct {
	mu      sync.Mutex
	window  time.Duration
	maxKeys int
	keys    map[string]*foldedKey
}

type foldedKey struct {
	last   time.Time
	folded int
}

// FoldWindow is how long audit events of one kind and key are folded into
// one.
const FoldWindow = 10 * time.Minute

// NewFolder folds events per key per window, for at most maxKeys keys.
func NewFolder(window time.Duration, maxKeys int) *Folder {
	return &Folder{window: window, maxKeys: maxKeys, keys: make(map[string]*foldedKey)}
}

// Admit reports whether an event of key may be written now, and how many
// were folded since the last one written.
func (f *Folder) Admit(key string, now time.Time) (folded int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[key]
	if k == nil {
		if len(f.keys) >= f.maxKeys {
			for key, old := range f.keys {
				if now.Sub(old.last) >= f.window && old.folded == 0 {
					delete(f.keys, key)
				}
			}
		}
		if len(f.keys) >= f.maxKeys {
			return 0, false
		}
		f.keys[key] = &foldedKey{last: now}
		return 0, true
	}
	if now.Sub(k.last) < f.window {
		k.folded++
		return 0, false
	}
	folded = k.folded
	k.last, k.folded = now, 0
	return folded, true
}
