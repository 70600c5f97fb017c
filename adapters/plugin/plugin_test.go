package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/khook-dev/khook/adapters/plugin"
	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

func TestTheExamplePluginIsLoadedAndReportsItsEndpoint(t *testing.T) {
	so := buildPlugin(t, "examples/plugins/httpprobe", "httpprobe", hostFlags(t)...)
	var status atomic.Int64
	status.Store(http.StatusServiceUnavailable)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer endpoint.Close()

	reg := sources.NewRegistry()
	if err := reg.Register(kubernetesLike{types: []event.Type{"pod-restart"}}, true); err != nil {
		t.Fatal(err)
	}
	cfg := &sources.Config{
		PluginDirectory: filepath.Dir(so),
		EventSources: []sources.SourceConfig{{Name: "httpprobe", Settings: ports.Settings{
			"url": endpoint.URL + "/healthz", "interval": "50ms", "namespace": "shop", "resourceName": "shop-web",
		}}},
		// The plugin's own name for its kind (its InternalTypes, the design's
		// SupportedEventTypes()) is what a mapping names.
		Mappings: []sources.Mapping{{EventSource: "httpprobe", EventType: "site-down", InternalType: "EndpointDown", Severity: "critical"}},
	}
	r, err := sources.NewRouter(context.Background(), reg, cfg, plugin.NewLoader(testr.New(t)), nil, testr.New(t))
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	if got := fmt.Sprint(r.EventTypes()); got != "[endpoint-down pod-restart site-down]" {
		t.Errorf("EventTypes() = %s: the plugin's type and its mapped type should be valid for Hooks", got)
	}
	if s := r.States(); len(s) != 2 || s[1].Name != "httpprobe" || s[1].Origin != "plugin "+so || s[1].Version != "v1" {
		t.Errorf("States() = %+v", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sink := &recorder{}
	go func() { done <- r.Run(ctx, sink) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the router did not stop after its context ended")
		}
	}()

	eventually(t, 30*time.Second, func() error {
		for _, e := range sink.got() {
			if e.Type == "site-down" && e.Severity == "critical" && e.Namespace == "shop" && e.ResourceName == "shop-web" && e.Source == "httpprobe" && !e.Resolves() &&
				strings.Contains(e.Message, "503 Service Unavailable") {
				return nil
			}
		}
		return fmt.Errorf("no site-down event (the plugin's endpoint-down, mapped) among %+v", sink.got())
	})
	status.Store(http.StatusOK)
	eventually(t, 30*time.Second, func() error {
		if got := sink.got(); got[len(got)-1].Resolution != event.Recovered {
			return errors.New("the recovery was not reported")
		}
		return nil
	})
}

func TestAPluginClaimingAProvidedTypeIsRefusedNamingBoth(t *testing.T) {
	so := buildPlugin(t, "examples/plugins/httpprobe", "httpprobe", hostFlags(t)...)
	reg := sources.NewRegistry()
	if err := reg.Register(kubernetesLike{types: []event.Type{"endpoint-down"}}, true); err != nil {
		t.Fatal(err)
	}
	cfg := &sources.Config{EventSources: []sources.SourceConfig{{Name: "httpprobe", PluginPath: so,
		Settings: ports.Settings{"url": "http://127.0.0.1:1/"}}}}
	_, err := sources.NewRouter(context.Background(), reg, cfg, plugin.NewLoader(logr.Discard()), nil, logr.Discard())
	want := fmt.Sprintf(`eventSources[0]: source "httpprobe" (plugin %s): event type "endpoint-down" is provided by both source "kubernetes" and source "httpprobe" (plugin %s)`, so, so)
	if err == nil || err.Error() != want {
		t.Errorf("NewRouter: %v\nwant %s", err, want)
	}
}

func TestLoadExplainsWhatIsWrong(t *testing.T) {
	good := buildPlugin(t, "examples/plugins/httpprobe", "httpprobe", hostFlags(t)...)
	garbage := filepath.Join(t.TempDir(), "garbage.so")
	if err := os.WriteFile(garbage, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		source  string
		path    func(t *testing.T) string
		want    []string // substrings of the error, in order
		notWant string
	}{
		{"a missing file is named", "httpprobe", func(*testing.T) string { return "/nonexistent/httpprobe.so" },
			[]string{`plugin for source "httpprobe": /nonexistent/httpprobe.so does not exist`}, ""},
		{"a file that is no plugin is refused with the loader's reason and what to do next", "garbage", func(*testing.T) string { return garbage },
			[]string{`plugin for source "garbage": plugin.Open("` + garbage + `"): `, "file too short",
				"(plugin.Open remembers this failure: put a fixed plugin at a new path, or restart khook)"}, ""},
		{"a plugin under another name is refused", "probe", func(*testing.T) string { return good },
			[]string{`plugin for source "probe" (` + good + `): the plugin is source "httpprobe", but the configuration calls it "probe": rename the file or the entry`}, ""},
		{"symbols of the wrong type are named with the type wanted", "wrongsymbols",
			func(t *testing.T) string {
				return buildPlugin(t, "adapters/plugin/testdata/wrongsymbols", "wrongsymbols", hostFlags(t)...)
			},
			[]string{`'s PluginMetadata is a func() ports.SourceInfo; want a variable of type ports.SourceInfo (` + "`var PluginMetadata = ports.SourceInfo{...}`)"}, ""},
		{"a plugin built with other flags is refused, saying how its build differs", "otherbuild",
			func(t *testing.T) string {
				return buildPlugin(t, "adapters/plugin/testdata/otherbuild", "otherbuild", toggleTrimpath(hostFlags(t))...)
			},
			[]string{"plugin was built with a different version of package", "-trimpath is "}, "its modules differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugin.NewLoader(logr.Discard()).Load(tt.source, tt.path(t))
			if err == nil {
				t.Fatal("loaded")
			}
			msg, rest := err.Error(), err.Error()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q\nlacks (in order) %q", msg, w)
				}
				rest = rest[i+len(w):]
			}
			t.Logf("error: %s", msg)
			if tt.notWant != "" && strings.Contains(msg, tt.notWant) {
				t.Errorf("error %q should not say %q", msg, tt.notWant)
			}
		})
	}
}

func TestCompareNamesEveryDifferenceOfTwoBuilds(t *testing.T) {
	mod := func(path, version string) *debug.Module { return &debug.Module{Path: path, Version: version} }
	host := &debug.BuildInfo{GoVersion: "go1.26.8", Main: *mod("github.com/khook-dev/khook", "v0.3.0"),
		Deps:     []*debug.Module{mod("k8s.io/apimachinery", "v0.37.2"), mod("github.com/go-logr/logr", "v1.4.4")},
		Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "CGO_ENABLED", Value: "1"}}}
	tests := []struct {
		name string
		plug *debug.BuildInfo
		want string
	}{
		{"the same build has nothing to say",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: *mod("example.com/probe", "(devel)"),
				Deps:     []*debug.Module{mod("github.com/khook-dev/khook", "v0.3.0"), mod("k8s.io/apimachinery", "v0.37.2")},
				Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "CGO_ENABLED", Value: "1"}}},
			""},
		{"another Go version, other flags and other module versions are each named",
			&debug.BuildInfo{GoVersion: "go1.25.1", Main: *mod("example.com/probe", "(devel)"),
				Deps:     []*debug.Module{mod("github.com/khook-dev/khook", "v0.2.0"), mod("k8s.io/apimachinery", "v0.36.0"), mod("golang.org/x/text", "v0.1.0")},
				Settings: []debug.BuildSetting{{Key: "-race", Value: "true"}, {Key: "CGO_ENABLED", Value: "1"}}},
			"; it was built with go1.25.1, khook with go1.26.8; -race is true for the plugin, unset for khook; " +
				"-trimpath is unset for the plugin, true for khook; its modules differ: " +
				"github.com/khook-dev/khook v0.2.0 (khook has v0.3.0), k8s.io/apimachinery v0.36.0 (khook has v0.37.2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plugin.Compare(host, tt.plug); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func toggleTrimpath(flags []string) []string {
	if i := slices.Index(flags, "-trimpath"); i >= 0 {
		return slices.Delete(slices.Clone(flags), i, i+1)
	}
	return append(slices.Clone(flags), "-trimpath")
}

// A khook built without cgo compiles the stub, which says so. A cgo test binary checks it by
// running this test again in a CGO_ENABLED=0 build.
func TestLoadWithoutCgoExplains(t *testing.T) {
	if !plugin.Supported {
		_, err := plugin.NewLoader(logr.Discard()).Load("httpprobe", os.Args[0]) // any existing file
		if !errors.Is(err, plugin.ErrUnsupported) || !strings.Contains(err.Error(), "plugin support requires a cgo build of khook") {
			t.Errorf("Load: %v", err)
		}
		return
	}
	if testing.Short() {
		t.Skip("builds the package again without cgo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestLoadWithoutCgoExplains$", "./adapters/plugin/")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the CGO_ENABLED=0 run failed: %v\n%s", err, b)
	}
}
