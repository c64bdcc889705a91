package challenge

import (
	"crypto/tls"
	"net/http/httptest"
	"strconv"
)

var tlsState tls.ConnectionState

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
