package challenge

import (
	"context"
	"strconv"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

// Wrong codes are counted per user (across challenges, sessions and
// instances) and per client IP (across accounts), in fixed windows kept in
// the store.

func (s *Service) userFailKey(user string) store.Key {
	return store.Key{Bucket: "fail-user/" + s.cfg.Realm, ID: user}
}

func (s *Service) ipFailKey(ip string) store.Key {
	return store.Key{Bucket: "fail-ip/" + s.cfg.Realm, ID: ip}
}

// lockedUntil returns when the user or IP may try again, or the zero time
// when neither is locked out. Both counters come in one read; only a
// counter at its limit costs a second read, for when its window ends.
func (s *Service) lockedUntil(ctx context.Context, user, ip string) (time.Time, error) {
	keys := []store.Key{s.userFailKey(user)}
	limits := []int{s.cfg.UserFailLimit}
	windows := []time.Duration{s.cfg.UserFailWindow}
	if ip != "" {
		keys = append(keys, s.ipFailKey(ip))
		limits = append(limits, s.cfg.IPFailLimit)
		windows = append(windows, s.cfg.IPFailWindow)
	}
	counts, err := s.getMany(ctx, keys...)
	if err != nil {
		return time.Time{}, err
	}
	for i, raw := range counts {
		if raw == nil {
			continue
		}
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil && n < int64(limits[i]) {
			continue
		}
		// At the limit (or unreadable: let Incr judge it).
		n, resets, err := s.backend.Incr(ctx, keys[i], 0, windows[i])
		if err != nil {
			return time.Time{}, err
		}
		if n >= int64(limits[i]) {
			return resets, nil
		}
	}
	return time.Time{}, nil
}

// recordFailure counts one wrong code and reports whether the user or IP
// is now locked out, and until when.
func (s *Service) recordFailure(ctx context.Context, user, ip string) (time.Time, error) {
	n, resets, err := s.backend.Incr(ctx, s.userFailKey(user), 1, s.cfg.UserFailWindow)
	if err != nil {
		return time.Time{}, err
	}
	until := time.Time{}
	if n >= int64(s.cfg.UserFailLimit) {
		until = resets
		s.event("user_locked_out")
		s.cfg.Logger.Warn("user locked out after too many wrong codes", "user", user, "until", resets.UTC().Format(time.RFC3339))
		if n == int64(s.cfg.UserFailLimit) {
			s.auditEvent(ctx, AuditEvent{Actor: user, Action: "locked_out", Subject: user, IP: ip, Detail: "until " + resets.UTC().Format("15:04 UTC")})
		}
	}
	if ip != "" {
		n, resets, err := s.backend.Incr(ctx, s.ipFailKey(ip), 1, s.cfg.IPFailWindow)
		if err != nil {
			return time.Time{}, err
		}
		if n >= int64(s.cfg.IPFailLimit) && resets.After(until) {
			if n == int64(s.cfg.IPFailLimit) {
				s.event("ip_locked_out")
				s.cfg.Logger.Warn("client IP locked out after too many wrong codes", "client_ip", ip, "until", resets.UTC().Format(time.RFC3339))
			}
			until = resets
		}
	}
	return until, nil
}
