package verify

import (
	"strings"
	"testing"
)

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", "123 456": "123456", "123-456": "123456", " 12 34 56 ": "123456"} {
		if got, ok := NormalizeCode(in); !ok || got != want {
			t.Errorf("NormalizeCode(%q) = %q %t", in, got, ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", "１２３４５６", strings.Repeat("1", 40)} {
		if _, ok := NormalizeCode(bad); ok {
			t.Errorf("NormalizeCode(%q) accepted", bad)
		}
	}
}
