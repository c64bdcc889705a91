package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/caddy2fa/caddy2fa/store"
)

func testList(t *testing.T, b store.Backend) {
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		put(t, b, store.Key{Bucket: "list", ID: id}, "v"+id, 0)
	}
	cases := []struct {
		after   string
		limit   int
		reverse bool
		want    []string
	}{
		{"", 10, false, []string{"a", "b", "c", "d", "e"}},
		{"", 2, false, []string{"a", "b"}},
		{"b", 2, false, []string{"c", "d"}},
		{"bb", 10, false, []string{"c", "d", "e"}},
		{"d", 10, false, []string{"e"}},
		{"e", 10, false, nil},
		{"zz", 10, false, nil},
		{"", 10, true, []string{"e", "d", "c", "b", "a"}},
		{"", 2, true, []string{"e", "d"}},
		{"d", 2, true, []string{"c", "b"}},
		{"cc", 10, true, []string{"c", "b", "a"}},
		{"zz", 10, true, []string{"e", "d", "c", "b", "a"}},
		{"a", 10, true, nil},
		{"", store.MaxListLimit * 10, false, []string{"a", "b", "c", "d", "e"}},
	}
	for _, c := range cases {
		entries := list(t, b, "list", c.after, c.limit, c.reverse)
		if got := ids(entries); !slices.Equal(got, c.want) {
			t.Errorf("List(after %q, limit %d, reverse %v) = %q, want %q", c.after, c.limit, c.reverse, got, c.want)
		}
		for _, e := range entries {
			if string(e.Value) != "v"+e.ID {
				t.Errorf("List entry %q has value %q, want %q", e.ID, e.Value, "v"+e.ID)
			}
		}
	}
	if got := list(t, b, "nobucket", "", 10, false); len(got) != 0 {
		t.Errorf("List of missing bucket = %q, want nothing", ids(got))
	}
}

func testListPaging(t *testing.T, b store.Backend) {
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("id%03d", i)
		want = append(want, id)
		put(t, b, store.Key{Bucket: "pages", ID: id}, id, 0)
	}
	for _, reverse := range []bool{false, true} {
		var got []string
		after := ""
		for page := 0; ; page++ {
			if page > 25 {
				t.Fatal("paging does not end")
			}
			entries := list(t, b, "pages", after, 4, reverse)
			got = append(got, ids(entries)...)
			if len(entries) < 4 {
				break
			}
			after = entries[len(entries)-1].ID
		}
		w := slices.Clone(want)
		if reverse {
			slices.Reverse(w)
		}
		if !slices.Equal(got, w) {
			t.Errorf("paging (reverse %v) listed %q, want %q", reverse, got, w)
		}
	}
}

func testBucketsIsolated(t *testing.T, b store.Backend) {
	ctx := t.Context()
	// Pairs that a naive "bucket/id" or prefix-scan encoding would confuse.
	keys := []store.Key{
		{Bucket: "x", ID: "a"},
		{Bucket: "x", ID: "y/a"},
		{Bucket: "x/y", ID: "a"},
		{Bucket: "xy", ID: "a"},
		{Bucket: "x:y", ID: "a"},
		{Bucket: "a/b", ID: "c"},
		{Bucket: "a", ID: "b/c"},
	}
	for i, k := range keys {
		put(t, b, k, strconv.Itoa(i), 0)
	}
	for i, k := range keys {
		if got := get(t, b, k); string(got) != strconv.Itoa(i) {
			t.Errorf("Get(%q) = %q, want %q", k, got, strconv.Itoa(i))
		}
	}
	if got := ids(list(t, b, "x", "", 100, false)); !slices.Equal(got, []string{"a", "y/a"}) {
		t.Errorf("List(x) = %q, want [a y/a]", got)
	}
	if got := ids(list(t, b, "x", "", 100, true)); !slices.Equal(got, []string{"y/a", "a"}) {
		t.Errorf("List(x, reverse) = %q, want [y/a a]", got)
	}
	if got := ids(list(t, b, "x/y", "", 100, false)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("List(x/y) = %q, want [a]", got)
	}
	if err := b.Delete(ctx, store.Key{Bucket: "x", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, store.Key{Bucket: "x/y", ID: "a"}); string(got) != "2" {
		t.Errorf("Delete in bucket x reached bucket x/y: Get = %q", got)
	}
}

func testOddNames(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const bucket = "users/realm a"
	odd := []string{"a:b", "a/b", "/", ":", "ü日本", " lead and trail ", "100%", "..", "a\nb", "*", "[x]", "{tag}", "é", "z"}
	for _, id := range odd {
		put(t, b, store.Key{Bucket: bucket, ID: id}, "v:"+id, 0)
	}
	for _, id := range odd {
		if got := get(t, b, store.Key{Bucket: bucket, ID: id}); string(got) != "v:"+id {
			t.Errorf("Get(%q) = %q, want %q", id, got, "v:"+id)
		}
	}
	want := slices.Clone(odd)
	slices.Sort(want) // byte-wise, as List orders
	if got := ids(list(t, b, bucket, "", 100, false)); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if got := ids(list(t, b, bucket, "a/b", 2, false)); !slices.Equal(got, want[slices.Index(want, "a/b")+1:][:2]) {
		t.Errorf("List after %q = %q", "a/b", got)
	}
	if v, err := b.Take(ctx, store.Key{Bucket: bucket, ID: "ü日本"}); err != nil || string(v) != "v:ü日本" {
		t.Errorf("Take = %q, %v", v, err)
	}
	if _, err := b.Get(ctx, store.Key{Bucket: "users", ID: "realm a/a:b"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a prefix-shifted key: err = %v, want ErrNotFound", err)
	}
}
