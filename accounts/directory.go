package accounts

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// A user directory the operator provides (users_file): known users before
// they ever visit, so the setup emails reach them too.

// DirectoryEntry is one user of a directory file.
type DirectoryEntry struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	Name  string `json:"name"`
}

// maxDirectoryBytes bounds a directory file (about a million users).
const maxDirectoryBytes = 256 << 20

// ParseDirectory reads JSON (an array of objects) or CSV with a header
// row naming the columns id, email, phone, name (id required).
func ParseDirectory(data []byte) ([]DirectoryEntry, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var out []DirectoryEntry
		if err := json.Unmarshal(trimmed, &out); err != nil {
			return nil, fmt.Errorf("users file (JSON): %w", err)
		}
		return validDirectory(out)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("users file (CSV): %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["id"]; !ok {
		return nil, errors.New("users file (CSV): the header must name an id column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []DirectoryEntry
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("users file (CSV) line %d: %w", line, err)
		}
		out = append(out, DirectoryEntry{ID: get(rec, "id"), Email: get(rec, "email"), Phone: get(rec, "phone"), Name: get(rec, "name")})
	}
	return validDirectory(out)
}

func validDirectory(entries []DirectoryEntry) ([]DirectoryEntry, error) {
	for i, e := range entries {
		if e.ID == "" || len(e.ID) > 256 || len(e.Email) > 254 || len(e.Phone) > 32 || len(e.Name) > 256 {
			return nil, fmt.Errorf("users file: entry %d needs an id, and fields within their limits", i+1)
		}
		if strings.ContainsAny(e.ID+e.Email+e.Phone+e.Name, "\x00\r\n") {
			return nil, fmt.Errorf("users file: entry %d has control characters", i+1)
		}
	}
	return entries, nil
}

// ImportDirectory records the entries as known users, keeping what the
// gateway already knows (enrollments, history). It returns how many
// records changed.
func ImportDirectory(ctx context.Context, b store.Backend, realm string, entries []DirectoryEntry) (int, error) {
	changed := 0
	now := time.Now().UTC()
	for _, e := range entries {
		_, err := store.UpdateJSON(ctx, b, store.Key{Bucket: Keys{Realm: realm}.UsersBucket(), ID: e.ID}, func(u *User, exists bool) (time.Duration, error) {
			before := *u
			if !exists {
				u.ID, u.FirstSeen = e.ID, now
			}
			if e.Email != "" {
				u.Email = e.Email
			}
			if e.Phone != "" {
				u.Phone = e.Phone
			}
			if e.Name != "" {
				u.Name = e.Name
			}
			if exists && u.Email == before.Email && u.Phone == before.Phone && u.Name == before.Name {
				return 0, store.ErrAbort
			}
			changed++
			return 0, nil
		})
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// ReadDirectoryFile reads and parses a users file.
func ReadDirectoryFile(path string) ([]DirectoryEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDirectoryBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDirectoryBytes {
		return nil, fmt.Errorf("users file %s is larger than %d MiB", path, maxDirectoryBytes>>20)
	}
	return ParseDirectory(data)
}
