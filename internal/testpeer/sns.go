package testpeer

import (
	"path/filepath"
	"strconv"
	"testing"
)

// SNSPeer is a running Amazon SNS emulator (serverless-offline-sns's
// SNSServer, run by sns-emulator.mjs) that records every SMS publish.
type SNSPeer struct {
	t    testing.TB
	proc *process
}

// SNSMessage is one SMS publish the emulator accepted.
type SNSMessage struct {
	PhoneNumber string            `json:"phoneNumber"`
	Message     string            `json:"message"`
	Attributes  map[string]string `json:"attributes"` // message attributes by name, e.g. AWS.SNS.SMS.SMSType
}

// SNS starts an SNS emulator for the test and stops it when the test ends.
// Point an SNS client at Endpoint() with any region and credentials.
func SNS(t testing.TB) *SNSPeer {
	t.Helper()
	root := NodeDir(t)
	node := requireNode(t)
	runner := filepath.Join(root, "sns-emulator.mjs")
	requireFile(t, runner, "the SNS emulator runner")
	server := filepath.Join(root, "serverless-offline-sns", "dist", "sns-server.js")
	requireFile(t, server, "serverless-offline-sns")
	requireFile(t, filepath.Join(NodeModules(t), "express", "package.json"), "serverless-offline-sns's dependencies")
	proc := startProcess(t, "sns-emulator", root, "/_published", func(port int) []string {
		return []string{node, runner, strconv.Itoa(port), server}
	})
	return &SNSPeer{t: t, proc: proc}
}

// Endpoint is the base URL for the SNS client (http://127.0.0.1:PORT).
func (p *SNSPeer) Endpoint() string { return p.proc.baseURL }

// Published returns every SMS accepted since the start or the last Clear, in
// the order they arrived. A failure to read them is reported on the test
// that started the peer, and returns nil.
func (p *SNSPeer) Published() []SNSMessage {
	var messages []SNSMessage
	if err := p.proc.getJSON("/_published", &messages); err != nil {
		p.t.Errorf("testpeer: reading SNS emulator messages: %v", err)
		return nil
	}
	return messages
}

// Clear forgets the recorded messages.
func (p *SNSPeer) Clear() {
	if err := p.proc.post("/_clear"); err != nil {
		p.t.Errorf("testpeer: clearing SNS emulator messages: %v", err)
	}
}

// Stop kills the emulator now, so a test can see how senders fail when SNS
// is unreachable. It is also done when the test ends.
func (p *SNSPeer) Stop() { p.proc.Stop() }
