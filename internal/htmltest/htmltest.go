// Package htmltest reads the gateway's pages in tests the way a browser
// would (golang.org/x/net/html): an element's text or attribute by id, and
// the code form.
package htmltest

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Parse parses a page, failing the test if it cannot.
func Parse(t testing.TB, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	return doc
}

// Walk calls fn for n and every node below it, in document order.
func Walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		Walk(c, fn)
	}
}

// Attr returns n's attribute name, or "".
func Attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// Text returns the text inside the element with the given id, trimmed;
// "" when there is none.
func Text(body, id string) string {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return ""
	}
	var out strings.Builder
	Walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && Attr(n, "id") == id {
			Walk(n, func(c *html.Node) {
				if c.Type == html.TextNode {
					out.WriteString(c.Data)
				}
			})
		}
	})
	return strings.TrimSpace(out.String())
}

// AttrByID returns an attribute of the element with the given id.
func AttrByID(body, id, name string) string {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return ""
	}
	var out string
	Walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && Attr(n, "id") == id {
			out = Attr(n, name)
		}
	})
	return out
}

// CodeForm returns the action and CSRF token of the page's form with the
// code input (else of its first form but the footer's language selector),
// and how many inputs are named code, failing the test when there is no
// such form.
func CodeForm(t testing.TB, body string) (action, csrf string, codeInputs int) {
	t.Helper()
	var chosen *html.Node
	Walk(Parse(t, body), func(n *html.Node) {
		if n.Type != html.ElementNode || n.Data != "form" || Attr(n, "class") == "language" {
			return
		}
		inputs := 0
		Walk(n, func(c *html.Node) {
			if c.Type == html.ElementNode && c.Data == "input" && Attr(c, "name") == "code" {
				inputs++
			}
		})
		if chosen == nil || inputs > 0 && codeInputs == 0 {
			chosen, codeInputs = n, inputs
		}
	})
	if chosen != nil {
		action = Attr(chosen, "action")
		Walk(chosen, func(c *html.Node) {
			if c.Type == html.ElementNode && c.Data == "input" && Attr(c, "name") == "csrf" {
				csrf = Attr(c, "value")
			}
		})
	}
	if action == "" || csrf == "" {
		t.Fatalf("no code form in:\n%s", body)
	}
	return action, csrf, codeInputs
}
