package accounts

import "testing"

func TestCookieValueFindsExactName(t *testing.T) {
	lines := []string{`x2fa_session=bad; 2fa_session="good"`, "other=1"}
	if got := CookieValue(lines, "2fa_session"); got != "good" {
		t.Fatalf("got %q", got)
	}
	if got := CookieValue(lines, "missing"); got != "" {
		t.Fatalf("got %q", got)
	}
}
