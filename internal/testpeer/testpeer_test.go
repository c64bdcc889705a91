package testpeer_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy2fa/caddy2fa/internal/testpeer"
)

func publish(t *testing.T, endpoint string, form url.Values) int {
	t.Helper()
	resp, err := http.PostForm(endpoint+"/", form)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSNSPeerRecordsOnlyAcceptedSMS(t *testing.T) {
	t.Parallel()
	peer := testpeer.SNS(t)
	sms := url.Values{
		"Action":                         {"Publish"},
		"PhoneNumber":                    {"+15555550101"},
		"Message":                        {"hello"},
		"MessageAttributes.entry.1.Name": {"AWS.SNS.SMS.SMSType"},
		"MessageAttributes.entry.1.Value.DataType":    {"String"},
		"MessageAttributes.entry.1.Value.StringValue": {"Transactional"},
	}
	if code := publish(t, peer.Endpoint(), sms); code != http.StatusOK {
		t.Fatalf("publish answered %d", code)
	}
	// The emulator refuses an invalid number (with a 500): not a sent SMS.
	if code := publish(t, peer.Endpoint(), url.Values{"Action": {"Publish"}, "PhoneNumber": {"12ab"}, "Message": {"x"}}); code < 400 {
		t.Errorf("publish to an invalid number answered %d", code)
	}
	got := peer.Published()
	if len(got) != 1 || got[0].PhoneNumber != "+15555550101" || got[0].Message != "hello" ||
		got[0].Attributes["AWS.SNS.SMS.SMSType"] != "Transactional" {
		t.Fatalf("Published() = %+v", got)
	}
	peer.Clear()
	if got := peer.Published(); len(got) != 0 {
		t.Errorf("after Clear: %+v", got)
	}
}

func TestStoppedPeersRefuseConnections(t *testing.T) {
	t.Parallel()
	ses, sns := testpeer.SES(t), testpeer.SNS(t)
	if len(ses.Emails()) != 0 {
		t.Errorf("a new SES peer holds emails")
	}
	ses.Stop()
	sns.Stop()
	sns.Stop() // stopping twice is harmless
	for _, endpoint := range []string{ses.Endpoint(), sns.Endpoint()} {
		if resp, err := http.Get(endpoint + "/"); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Stop", endpoint)
		} else if !strings.Contains(err.Error(), "refused") {
			t.Logf("%s: %v", endpoint, err)
		}
	}
}
