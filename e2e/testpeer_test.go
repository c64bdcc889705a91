package e2e

import (
	"encoding/json"
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

// Each stack's own reading of the same headers, as the peers report it.
func TestCookieParsersReadLikeTheirStacks(t *testing.T) {
	peers := testpeer.StartCookieParsers(t, "T0k3n")
	want := map[string]map[string]any{
		"legacy_session=T0k3n":               {"go": "T0k3n", "php": "T0k3n", "python": "T0k3n", "node": "T0k3n", "java": "T0k3n"},
		"legacy.session=T0k3n":               {"go": nil, "php": "T0k3n", "python": nil, "node": nil, "java": nil},
		"legacy_session =T0k3n":              {"go": "T0k3n", "php": nil, "python": "T0k3n", "node": "T0k3n", "java": "T0k3n"},
		"x=1 legacy_session=T0k3n":           {"go": nil, "php": nil, "python": "T0k3n", "node": nil, "java": nil},
		"legacy_session=A; legacy_session=B": {"go": "A", "php": "A", "python": "B", "node": "A", "java": "A"},
	}
	for header, byPeer := range want {
		for _, p := range peers {
			req, _ := http.NewRequest("GET", p.URL+"/echo", nil)
			req.Header.Set("Cookie", header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Session any }
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if got.Session != byPeer[p.Name] {
				t.Errorf("%s reads %q as %v, want %v", p.Name, header, got.Session, byPeer[p.Name])
			}
		}
	}
}
