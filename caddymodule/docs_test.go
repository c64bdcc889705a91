package caddymodule

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Every JSON field of the configuration says what it is and, once, its
// default (or that it is required): the comments are the JSON docs.
func TestEveryJSONFieldSaysItsDefault(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	says := regexp.MustCompile(`(?i)\b(defaults?|required)\b`)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range st.Fields.List {
				if field.Tag == nil || len(field.Names) == 0 || !field.Names[0].IsExported() {
					continue
				}
				tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("json")
				if tag == "" || tag == "-" {
					continue
				}
				doc := field.Doc.Text() + field.Comment.Text()
				switch {
				case doc == "":
					t.Errorf("%s: %s has no doc comment", fset.Position(field.Pos()), field.Names[0])
				case !says.MatchString(doc):
					t.Errorf("%s: %s does not say its default (or that it is required): %q", fset.Position(field.Pos()), field.Names[0], doc)
				case strings.Count(strings.ToLower(doc), "default") > 2:
					t.Errorf("%s: %s says its default more than once: %q", fset.Position(field.Pos()), field.Names[0], doc)
				}
			}
			return true
		})
	}
}
