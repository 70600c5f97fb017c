package integration

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/khook-dev/khook/api/v1alpha2"
)

func readHook(t *testing.T, path, ns string) (*v1alpha2.Hook, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	expect := ""
	if first, _, _ := bufio.NewReader(bytes.NewReader(data)).ReadLine(); bytes.HasPrefix(first, []byte("# expect: ")) {
		expect = strings.TrimPrefix(string(first), "# expect: ")
	}
	var h v1alpha2.Hook
	if err := yaml.UnmarshalStrict(data, &h); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	h.Namespace = ns
	return &h, expect
}

func TestTheExampleHooksAreAcceptedAndShownInTheREADME(t *testing.T) {
	ns := newNamespace(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "hooks", "valid", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example hooks")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h, _ := readHook(t, f, ns)
			if err := k8s.Create(context.Background(), h); err != nil {
				t.Fatalf("the API server rejected an example: %v", err)
			}
			raw, _ := os.ReadFile(f)
			if !bytes.Contains(readme, raw) {
				t.Errorf("README.md does not show %s verbatim", f)
			}
		})
	}
}

func TestInvalidHooksAreRejectedWithAMessageNamingTheField(t *testing.T) {
	ns := newNamespace(t)
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "hooks", "invalid", "*.yaml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h, expect := readHook(t, f, ns)
			if expect == "" {
				t.Fatalf("%s has no '# expect: ' line", f)
			}
			err := k8s.Create(context.Background(), h)
			if err == nil || !strings.Contains(err.Error(), expect) {
				t.Fatalf("Create error = %v\nwant it to contain %q", err, expect)
			}
		})
	}
	generated := []struct {
		name   string
		hook   func() *v1alpha2.Hook
		expect string
	}{
		{"a prompt longer than 10000 characters", func() *v1alpha2.Hook {
			return newHook(ns, "long", "a", strings.Repeat("x", 10001), "pod-restart")
		}, "spec.eventConfigurations[0].prompt: Too long: may not be more than 10000"},
		{"51 event configurations", func() *v1alpha2.Hook {
			types := make([]string, 51)
			for i := range types {
				types[i] = "pod-restart"
			}
			return newHook(ns, "many", "a", "x", types...)
		}, "spec.eventConfigurations: Too many: 51: must have at most 50 items"},
		{"a call in the prompt", func() *v1alpha2.Hook {
			return newHook(ns, "call", "a", "{{ call .Message }}", "pod-restart")
		}, "spec.eventConfigurations[0].prompt: Invalid value: \"{{ call .Message }}\": prompt must not use call"},
	}
	for _, tt := range generated {
		t.Run(tt.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tt.hook())
			if err == nil || !strings.Contains(err.Error(), tt.expect) {
				t.Fatalf("Create error = %v\nwant it to contain %q", err, tt.expect)
			}
		})
	}
}
