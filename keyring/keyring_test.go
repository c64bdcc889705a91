package keyring

import (
	"bytes"
	"strings"
	"testing"
)

type sample struct {
	User string `json:"u"`
}

func TestRotationOldCookiesStillOpenUntilTheirKeyIsDropped(t *testing.T) {
	oldKey, newKey := Generate(), Generate()
	old, err := Parse(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := old.EncodeCookie("c", sample{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := Parse(newKey + " " + oldKey)
	var got sample
	if err := rotated.DecodeCookie("c", v, &got); err != nil || got.User != "alice" {
		t.Fatalf("rotated ring must open old cookie: %v %+v", err, got)
	}
	dropped, _ := Parse(newKey)
	if err := dropped.DecodeCookie("c", v, &got); err == nil {
		t.Fatal("a cookie made by a dropped key must not open")
	}
	// New cookies use the primary (first) key.
	v2, _ := rotated.EncodeCookie("c", sample{"bob"})
	if err := dropped.DecodeCookie("c", v2, &got); err != nil || got.User != "bob" {
		t.Fatalf("new cookie must be made with the primary key: %v", err)
	}
}

func TestCookieBoundToItsName(t *testing.T) {
	r, _ := Parse(Generate())
	v, _ := r.EncodeCookie("session", sample{"alice"})
	var got sample
	if err := r.DecodeCookie("device", v, &got); err == nil {
		t.Fatal("a session cookie must not open as a device cookie")
	}
}

func TestTamperedCookieRefused(t *testing.T) {
	r, _ := Parse(Generate())
	v, _ := r.EncodeCookie("c", sample{"alice"})
	b := []byte(v)
	b[len(b)/2] ^= 1
	var got sample
	if err := r.DecodeCookie("c", string(b), &got); err == nil {
		t.Fatal("tampered cookie opened")
	}
	if err := r.DecodeCookie("c", v[:len(v)-5], &got); err == nil {
		t.Fatal("truncated cookie opened")
	}
}

func TestSealOpenWithRotationAndAAD(t *testing.T) {
	k1, k2 := Generate(), Generate()
	r1, _ := Parse(k1)
	sealed := r1.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("realm/alice"))
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("plaintext visible in sealed data")
	}
	r2, _ := Parse(k2 + "," + k1)
	got, err := r2.Open(sealed, []byte("realm/alice"))
	if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open after rotation: %v", err)
	}
	if _, err := r2.Open(sealed, []byte("realm/bob")); err == nil {
		t.Fatal("a seed sealed for alice must not open for bob")
	}
	r3, _ := Parse(k2)
	if _, err := r3.Open(sealed, []byte("realm/alice")); err != ErrUnknownKey {
		t.Fatalf("want ErrUnknownKey, got %v", err)
	}
}

func TestMACVerifiesAcrossRotationAndSeparatesParts(t *testing.T) {
	k1, k2 := Generate(), Generate()
	r1, _ := Parse(k1)
	sum := r1.MAC("code", "alice", "123456")
	r2, _ := Parse(k2 + " " + k1)
	if !r2.VerifyMAC(sum, "code", "alice", "123456") {
		t.Fatal("MAC by an older key must verify")
	}
	if r2.VerifyMAC(sum, "code", "alice1", "23456") {
		t.Fatal("parts must not run together")
	}
	if r2.VerifyMAC(sum, "other", "alice", "123456") {
		t.Fatal("purposes must be separate")
	}
}

func TestParseErrorsNeverEchoTheSecret(t *testing.T) {
	secret := "c2hvcnQtc2VjcmV0LXZhbHVl" // too short
	_, err := Parse(Generate() + " " + secret)
	if err == nil {
		t.Fatal("short key accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error repeats the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "key 2 of 2") {
		t.Fatalf("error should say which key: %v", err)
	}
	if _, err := Parse("  "); err == nil {
		t.Fatal("empty key list accepted")
	}
}

func TestParseAcceptsHexAndStdBase64(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	std := "q83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80="
	if _, err := Parse(hex + "," + std); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkDecodeCookie(b *testing.B) {
	r, _ := Parse(Generate())
	v, _ := r.EncodeCookie("c", sample{"alice"})
	var got sample
	b.ReportAllocs()
	for b.Loop() {
		if err := r.DecodeCookie("c", v, &got); err != nil {
			b.Fatal(err)
		}
	}
}
