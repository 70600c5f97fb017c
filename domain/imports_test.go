package domain_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/khook-dev/khook/"

// allowedImport says whether a non-test file under domain/ may import path: the standard
// library but net/http, the domain's own packages, ports, and the clock interfaces.
func allowedImport(path string) bool {
	switch {
	case path == "net/http" || strings.HasPrefix(path, "net/http/"):
		return false
	case !strings.Contains(strings.SplitN(path, "/", 2)[0], "."):
		return true // standard library
	case strings.HasPrefix(path, module+"domain/"), path == module+"ports":
		return true
	case path == "k8s.io/utils/clock":
		return true
	}
	return false
}

func TestDomainImportsOnlyTheStandardLibraryPortsAndItself(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !allowedImport(p) {
				t.Errorf("%s imports %s; the domain may import only the standard library, ports and domain packages", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDomainDoesNotDependOnKubernetesHTTPOrA2AEvenIndirectly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go", "sigs.k8s.io/controller-runtime", "github.com/a2aproject/", "net/http"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
				t.Errorf("the domain depends on %s", dep)
			}
		}
	}
}
