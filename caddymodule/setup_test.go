package caddymodule

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy2fa/caddy2fa/keyring"
	"github.com/caddy2fa/caddy2fa/store"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// newTestApp is an app as Provision leaves it, without senders.
func newTestApp() *App {
	return &App{logger: zap.NewNop(), slogger: slog.New(slog.DiscardHandler), ready: make(chan struct{}), storage: &FileStorage{}}
}

// sourceOf builds the identity source a handler's JSON names, without
// Caddy's module loader.
func sourceOf(tb testing.TB, raw json.RawMessage) IdentitySource {
	tb.Helper()
	raw, err := normalizeIdentity(raw)
	if err != nil {
		tb.Fatal(err)
	}
	var named struct {
		Source string `json:"source"`
	}
	json.Unmarshal(raw, &named)
	var src interface {
		IdentitySource
		provision() error
	}
	switch named.Source {
	case "placeholders":
		src = new(PlaceholderIdentity)
	case "lookup":
		src = new(LookupIdentity)
	default:
		tb.Fatalf("no identity source %q", named.Source)
	}
	var fields map[string]json.RawMessage
	json.Unmarshal(raw, &fields)
	delete(fields, "source")
	rest, _ := json.Marshal(fields)
	if err := json.Unmarshal(rest, src); err != nil {
		tb.Fatal(err)
	}
	if err := src.provision(); err != nil {
		tb.Fatal(err)
	}
	return src
}

// lookupJSON is the identity JSON of a lookup against url.
func lookupJSON(url, cookie string) json.RawMessage {
	raw, _ := json.Marshal(map[string]string{"source": "lookup", "url": url, "cookie": cookie})
	return raw
}

// setupBenchHandler provisions h on the store and starts its app, as
// Caddy would.
func setupBenchHandler(tb testing.TB, b store.Backend, h *Handler) *Handler {
	tb.Helper()
	return setupHandlerIn(tb, newTestApp(), b, h)
}

// setupHandlerIn is setupBenchHandler in an app the test configured.
func setupHandlerIn(tb testing.TB, app *App, b store.Backend, h *Handler) *Handler {
	tb.Helper()
	ring, _ := keyring.Parse(keyring.Generate())
	m, err := newMetrics(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.provision(app, sourceOf(tb, h.IdentityRaw), zap.NewNop(), slog.New(slog.DiscardHandler), m); err != nil {
		tb.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app.cancel = cancel
	tb.Cleanup(func() { app.Stop() })
	if err := app.start(ctx, b, ring); err != nil {
		tb.Fatal(err)
	}
	return h
}

// totpNow is the authenticator code of key at the time at.
func totpNow(tb testing.TB, key string, at time.Time) string {
	tb.Helper()
	c, err := totp.GenerateCodeCustom(strings.ReplaceAll(key, " ", ""), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// freePort is a port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
