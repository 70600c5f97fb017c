package plugin

import (
	"debug/buildinfo"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
)

// diagnose explains why a plugin may not load: how its build differs from khook's (Go
// version, build flags, versions of shared modules). It returns "" when it finds nothing.
func diagnose(path string) string {
	plug, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	host, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return compare(host, plug)
}

// compare lists how plugin's build differs from host's, as a sentence starting with "; ".
func compare(host, plug *debug.BuildInfo) string {
	var diffs []string
	if host.GoVersion != plug.GoVersion {
		diffs = append(diffs, fmt.Sprintf("it was built with %s, khook with %s", plug.GoVersion, host.GoVersion))
	}
	hs, ps := settings(host), settings(plug)
	for _, k := range []string{"-race", "-trimpath", "-tags", "-asan", "-msan", "CGO_ENABLED", "GOEXPERIMENT"} {
		if hs[k] != ps[k] {
			diffs = append(diffs, fmt.Sprintf("%s is %s for the plugin, %s for khook", k, orNone(ps[k]), orNone(hs[k])))
		}
	}
	hostMods := map[string]string{host.Main.Path: host.Main.Version}
	for _, m := range host.Deps {
		hostMods[m.Path] = version(m)
	}
	var mods []string
	for _, m := range append([]*debug.Module{&plug.Main}, plug.Deps...) {
		if hv, shared := hostMods[m.Path]; shared && hv != version(m) && m.Path != "" {
			mods = append(mods, fmt.Sprintf("%s %s (khook has %s)", m.Path, version(m), hv))
		}
	}
	sort.Strings(mods)
	if len(mods) > 0 {
		if len(mods) > 5 {
			mods = append(mods[:5], fmt.Sprintf("and %d more", len(mods)-5))
		}
		diffs = append(diffs, "its modules differ: "+strings.Join(mods, ", "))
	}
	if len(diffs) == 0 {
		return ""
	}
	return "; " + strings.Join(diffs, "; ")
}

func settings(bi *debug.BuildInfo) map[string]string {
	m := map[string]string{}
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	if m["-race"] == "false" {
		m["-race"] = ""
	}
	if m["-trimpath"] == "false" {
		m["-trimpath"] = ""
	}
	return m
}

func version(m *debug.Module) string {
	if m.Replace != nil {
		return m.Replace.Path + "@" + m.Replace.Version
	}
	return m.Version
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}
