package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

func TestTheGoMemoryLimitIsAShareOfTheContainers(t *testing.T) {
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		cgroups map[string]string
		want    memoryLimit
	}{
		{"the chart's limit, passed in bytes, gives 90% of it", map[string]string{"KHOOK_MEMORY_LIMIT": "536870912"}, nil, nil,
			memoryLimit{bytes: 483183820, container: 536870912, from: "KHOOK_MEMORY_LIMIT"}},
		{"a limit written as a quantity reads the same", map[string]string{"KHOOK_MEMORY_LIMIT": "512Mi"}, nil, nil,
			memoryLimit{bytes: 483183820, container: 536870912, from: "KHOOK_MEMORY_LIMIT"}},
		{"the ratio is a flag", map[string]string{"KHOOK_MEMORY_LIMIT": "1Gi"}, []string{"--memory-limit-ratio=0.5"}, nil,
			memoryLimit{bytes: 536870912, container: 1073741824, from: "KHOOK_MEMORY_LIMIT"}},
		{"KHOOK_MEMORY_LIMIT wins over the cgroup", map[string]string{"KHOOK_MEMORY_LIMIT": "512Mi"}, nil, map[string]string{v2: "268435456\n"},
			memoryLimit{bytes: 483183820, container: 536870912, from: "KHOOK_MEMORY_LIMIT"}},
		{"without KHOOK_MEMORY_LIMIT the cgroup v2 limit counts", nil, nil, map[string]string{v2: "268435456\n"},
			memoryLimit{bytes: 241591910, container: 268435456, from: v2}},
		{"a cgroup v2 without a limit sets none", nil, nil, map[string]string{v2: "max\n"}, memoryLimit{}},
		{"without cgroup v2 the cgroup v1 limit counts", nil, nil, map[string]string{v1: "268435456\n"},
			memoryLimit{bytes: 241591910, container: 268435456, from: v1}},
		{"a cgroup v1 without a limit sets none", nil, nil, map[string]string{v1: "9223372036854771712\n"}, memoryLimit{}},
		{"no container limit anywhere sets none", nil, nil, nil, memoryLimit{}},
		{"GOMEMLIMIT, which the runtime has read, wins", map[string]string{"GOMEMLIMIT": "300MiB", "KHOOK_MEMORY_LIMIT": "512Mi"}, nil, nil,
			memoryLimit{from: "GOMEMLIMIT"}},
		{"a ratio of 0 sets none", map[string]string{"KHOOK_MEMORY_LIMIT": "512Mi"}, []string{"--memory-limit-ratio=0"}, nil, memoryLimit{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(append([]string{"--leader-elect=false"}, tt.args...), func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			readFile := func(path string) ([]byte, error) {
				if v, ok := tt.cgroups[path]; ok {
					return []byte(v), nil
				}
				return nil, fs.ErrNotExist
			}
			if got := c.memory.limit(readFile); got != tt.want {
				t.Errorf("limit = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAMalformedMemorySettingStopsKhookNamingIt(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"KHOOK_MEMORY_LIMIT that is not a size", map[string]string{"KHOOK_MEMORY_LIMIT": "lots"}, nil, `KHOOK_MEMORY_LIMIT: "lots" is not a memory size`},
		{"KHOOK_MEMORY_LIMIT of zero", map[string]string{"KHOOK_MEMORY_LIMIT": "0"}, nil, `KHOOK_MEMORY_LIMIT: "0" is not a memory size`},
		{"a ratio above 1", nil, []string{"--memory-limit-ratio=1.5"}, "memory-limit-ratio: must be from 0 to 1"},
		{"a negative ratio", nil, []string{"--memory-limit-ratio=-0.1"}, "memory-limit-ratio: must be from 0 to 1"},
		{"a ratio that is not a number", nil, []string{"--memory-limit-ratio=most"}, "memory-limit-ratio: not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(append([]string{"--leader-elect=false"}, tt.args...), func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseFlags = %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestTheBinaryLogsTheMemoryLimitItSets runs khook as the chart does, with the container's limit
// in KHOOK_MEMORY_LIMIT, against a cluster it cannot find: it sets and logs its memory limit
// before it looks for the cluster.
func TestTheBinaryLogsTheMemoryLimitItSets(t *testing.T) {
	binary := buildKhook(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"90% of the container's limit", []string{"KHOOK_MEMORY_LIMIT=536870912"},
			[]string{"Go memory limit set from the container's", `"limitBytes": 483183820`, `"containerLimitBytes": 536870912`}},
		{"GOMEMLIMIT as set", []string{"KHOOK_MEMORY_LIMIT=536870912", "GOMEMLIMIT=100MiB"},
			[]string{"Go memory limit set by GOMEMLIMIT", `"limitBytes": 104857600`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, "--kubeconfig", kubeconfig, "--leader-elect=false", "--zap-encoder", "console")
			cmd.Env = append(cleanMemoryEnv(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("khook found a cluster in an empty kubeconfig:\n%s", out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("khook's log does not say %s:\n%s", want, out)
				}
			}
		})
	}
}

// cleanMemoryEnv is the test's environment without what points khook at a cluster or sets its
// memory limit.
func cleanMemoryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "KUBECONFIG", name == "POD_NAMESPACE", name == "GOMEMLIMIT", name == "KHOOK_MEMORY_LIMIT",
			strings.HasPrefix(name, "KAGENT_"), name == "KUBERNETES_SERVICE_HOST":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// TestTheChartPassesTheContainersMemoryLimit reads the Deployment of the chart, as `make chart`
// renders it: khook is given its container's memory limit through the downward API, and the
// ratio.
func TestTheChartPassesTheContainersMemoryLimit(t *testing.T) {
	path := os.Getenv("KHOOK_CHART_MANIFEST")
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KHOOK_CHART_MANIFEST is not set; `make test` renders the chart and sets it")
		}
		t.Skip("KHOOK_CHART_MANIFEST is not set; run `make docs-check`")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind != "Deployment" {
			continue
		}
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.Contains(c.Args, "--memory-limit-ratio=0.9") {
			t.Errorf("the chart does not pass --memory-limit-ratio=0.9: %q", c.Args)
		}
		for _, env := range c.Env {
			if env.Name != "KHOOK_MEMORY_LIMIT" {
				continue
			}
			if f := env.ValueFrom; f == nil || f.ResourceFieldRef == nil || f.ResourceFieldRef.Resource != "limits.memory" ||
				(f.ResourceFieldRef.ContainerName != "" && f.ResourceFieldRef.ContainerName != c.Name) {
				t.Errorf("KHOOK_MEMORY_LIMIT is not the container's limits.memory: %+v", env)
			}
			if limit := c.Resources.Limits.Memory(); limit.Value() != 512<<20 {
				t.Errorf("the chart's memory limit is %v, not the 512Mi the docs say", limit)
			}
			return
		}
		t.Fatalf("the chart's container has no KHOOK_MEMORY_LIMIT: %+v", c.Env)
	}
	t.Fatal("no Deployment in the manifest")
}
