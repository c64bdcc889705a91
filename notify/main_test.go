package notify_test

import (
	"os"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

func TestMain(m *testing.M) {
	// The senders use the AWS SDK's default credential chain; give it fake
	// credentials (the emulators accept any) rather than whatever the
	// machine running the tests has.
	for _, kv := range testpeer.FakeAWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	os.Exit(m.Run())
}
