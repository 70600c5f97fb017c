package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dockerfile is what the tests need to know of the Dockerfile at the repository's root.
type dockerfile struct {
	stages []stage
}

type stage struct {
	from, name string
	runs       []string
	copies     []string // the arguments of each COPY
	user       string
	entrypoint string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			fields := strings.Fields(args)
			s := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			d.stages = append(d.stages, s)
			continue
		}
		if len(d.stages) == 0 {
			t.Fatalf("Dockerfile: %s before FROM", instr)
		}
		s := &d.stages[len(d.stages)-1]
		switch instr {
		case "RUN":
			s.runs = append(s.runs, args)
		case "COPY":
			s.copies = append(s.copies, args)
		case "USER":
			s.user = args
		case "ENTRYPOINT":
			s.entrypoint = args
		}
	}
	if len(d.stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(d.stages))
	}
	return d
}

func (d dockerfile) stage(name string) (stage, bool) {
	for _, s := range d.stages {
		if s.name == name {
			return s, true
		}
	}
	return stage{}, false
}

// debianOf maps the Debian codename of an image tag to its release.
var debianOf = map[string]int{"bullseye": 11, "bookworm": 12, "trixie": 13}

// TestTheDockerfileBuildsWhatMakeBuildBuilds checks the image's claims without Docker: the
// runtime stage copies the binary that hack/build.sh (also `make build`) makes, runs it as a
// numeric non-root user, has the glibc it was linked against, and the Go toolchain is the
// one go.mod asks for (Go plugins need the very same toolchain).
func TestTheDockerfileBuildsWhatMakeBuildBuilds(t *testing.T) {
	d := readDockerfile(t)
	final := d.stages[len(d.stages)-1]

	// The runtime stage copies the binary from the build stage and runs it.
	copyFrom := regexp.MustCompile(`^--from=(\S+)\s+(\S+)\s+(\S+)$`)
	var buildStage, builtPath, binary string
	for _, c := range final.copies {
		if m := copyFrom.FindStringSubmatch(c); m != nil {
			buildStage, builtPath, binary = m[1], m[2], m[3]
		}
	}
	if buildStage == "" {
		t.Fatalf("the final stage copies nothing from a build stage: %q", final.copies)
	}
	if final.entrypoint != `["`+binary+`"]` {
		t.Errorf("ENTRYPOINT %s, want [%q], the binary copied", final.entrypoint, binary)
	}
	build, ok := d.stage(buildStage)
	if !ok {
		t.Fatalf("no stage named %s", buildStage)
	}
	wantRun := "./hack/build.sh " + builtPath
	if !contains(build.runs, wantRun) {
		t.Errorf("the build stage runs %q; want %q, the build `make build` uses", build.runs, wantRun)
	}

	// `make build` uses the same script.
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^build:.*\n\t\./hack/build\.sh bin/khook$`).Match(makefile) {
		t.Error("the Makefile's build target does not run ./hack/build.sh bin/khook")
	}

	// The Go toolchain of the build stage is go.mod's.
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	golang := regexp.MustCompile(`^golang:(\d+\.\d+)(?:\.\d+)?-(\w+)$`).FindStringSubmatch(build.from)
	if golang == nil || goVersion == nil {
		t.Fatalf("build stage FROM %s: want golang:<go.mod's version>-<debian codename>", build.from)
	}
	if golang[1] != string(goVersion[1]) {
		t.Errorf("the build stage uses Go %s, go.mod says %s", golang[1], goVersion[1])
	}

	// The runtime has glibc, of the Debian release the build stage linked against.
	runtime := regexp.MustCompile(`^gcr\.io/distroless/(base|cc)-debian(\d+)(?::(\S+))?$`).FindStringSubmatch(final.from)
	if runtime == nil {
		t.Fatalf("runtime stage FROM %s: want gcr.io/distroless/base-debianN (a dynamically linked binary needs glibc)", final.from)
	}
	if release, _ := strconv.Atoi(runtime[2]); debianOf[golang[2]] != release {
		t.Errorf("built on Debian %s (%d), run on Debian %d: the glibc versions differ", golang[2], debianOf[golang[2]], release)
	}

	// It runs as a numeric user that is not root.
	uid, _, _ := strings.Cut(final.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q; want a numeric non-root user (the kubelet can only enforce runAsNonRoot on a number)", final.user)
	}
}

// TestTheBinaryIsBuiltAsTheImageClaims builds with hack/build.sh and reads the binary back:
// cgo on, -trimpath, no symbols (-s) nor DWARF (-w), and dynamically linked (it has an ELF
// interpreter); and it starts.
func TestTheBinaryIsBuiltAsTheImageClaims(t *testing.T) {
	path := buildKhook(t)
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// Go leaves -ldflags out of the build info of a -trimpath build (go.dev/issue/52372); the
	// ELF sections below show what -s and -w did.
	for key, want := range map[string]string{"CGO_ENABLED": "1", "-trimpath": "true"} {
		if settings[key] != want {
			t.Errorf("build setting %s = %q, want %q (all: %v)", key, settings[key], want, settings)
		}
	}
	if info.Path != "github.com/khook-dev/khook/cmd/khook" {
		t.Errorf("main package %s", info.Path)
	}

	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dynamic := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	if !dynamic {
		t.Error("the binary has no ELF interpreter: it is static, yet the image claims a cgo (glibc) build")
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags -s did not apply")
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the binary has DWARF section %s: -ldflags -w did not apply", s.Name)
		}
	}

	out, err := exec.Command(path, "-help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-kubeconfig") {
		t.Fatalf("khook -help = %v:\n%s", err, out)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
