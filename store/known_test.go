package store_test

import (
	"testing"

	"github.com/caddy2fa/caddy2fa/store"
)

func TestOnceValuesHandsEachValueOutOnce(t *testing.T) {
	k, absent := store.Key{Bucket: "b", ID: "k"}, store.Key{Bucket: "b", ID: "absent"}
	src := map[store.Key][]byte{k: []byte("v"), absent: nil}
	o := store.NewOnceValues(src)
	delete(src, k) // a copy is held
	if v, ok := o.Take(k); !ok || string(v) != "v" {
		t.Fatalf("first Take = %q, %t", v, ok)
	}
	if _, ok := o.Take(k); ok {
		t.Fatal("a value handed out twice")
	}
	if v, ok := o.Take(absent); !ok || v != nil {
		t.Fatalf("a held absence = %q, %t; want nil, true", v, ok)
	}
	var none *store.OnceValues
	if _, ok := none.Take(k); ok {
		t.Fatal("a nil OnceValues held a value")
	}
}
