package notify_test

import (
	"os"
	"testing"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

// The senders use the AWS SDK's default credential chain: give it fake
// credentials (the emulators accept any) rather than whatever the machine
// running the tests has.
func TestMain(m *testing.M) {
	testpeer.UseFakeAWSEnv()
	os.Exit(m.Run())
}
