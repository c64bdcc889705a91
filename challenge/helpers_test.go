package challenge

import (
	"crypto/tls"
	"net/http/httptest"
	"strconv"

	"github.com/caddy2fa/caddy2fa/keyring"
)

var tlsState tls.ConnectionState

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func keyringForFuzz() (*keyring.Ring, error) { return keyring.Parse(keyring.Generate()) }
