package event_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/event"
)

func TestTypeValidate(t *testing.T) {
	tests := []struct {
		name    string
		typ     event.Type
		wantErr bool
	}{
		{"a built-in Kubernetes type is valid", event.PodRestart, false},
		{"an external type of dashed words is valid", "alert-firing", false},
		{"digits after the first letter are valid", "http5xx-burst", false},
		{"an empty type is invalid", "", true},
		{"upper case is invalid", "Pod-Restart", true},
		{"a leading dash is invalid", "-restart", true},
		{"a double dash is invalid", "pod--restart", true},
		{"an underscore is invalid", "pod_restart", true},
		{"a type longer than 63 characters is invalid", event.Type("a" + strings.Repeat("-b", 32)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.typ.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Validate(%q) = %v, want error: %v", tt.typ, err, tt.wantErr)
			}
		})
	}
}

func TestKeyIgnoresEverythingButTypeNamespaceAndName(t *testing.T) {
	a := event.Event{Type: event.OOMKill, Namespace: "shop", ResourceName: "cart-1", Reason: "OOMKilled", Message: "one"}
	b := event.Event{Type: event.OOMKill, Namespace: "shop", ResourceName: "cart-1", Reason: "Other", Message: "two"}
	if a.Key() != b.Key() {
		t.Fatalf("keys differ: %v vs %v", a.Key(), b.Key())
	}
	if got, want := a.Key().String(), "oom-kill/shop/cart-1"; got != want {
		t.Fatalf("Key().String() = %q, want %q", got, want)
	}
}

func TestAFingerprintTellsApartTroublesOfOneNameOnOneResource(t *testing.T) {
	a := event.Event{Type: "alert-firing", Namespace: "shop", ResourceName: "HighLatency", Fingerprint: "1a2b"}
	b := event.Event{Type: "alert-firing", Namespace: "shop", ResourceName: "HighLatency", Fingerprint: "3c4d"}
	if a.Key() == b.Key() {
		t.Fatalf("alerts with different fingerprints share the key %v", a.Key())
	}
	if got, want := a.Key().String(), "alert-firing/shop/HighLatency@1a2b"; got != want {
		t.Fatalf("Key().String() = %q, want %q", got, want)
	}
}

func TestAKeyDescribesItselfForPeople(t *testing.T) {
	tests := []struct {
		name string
		key  event.Key
		want string
	}{
		{"a namespaced resource", event.Key{Type: event.OOMKill, Namespace: "shop", ResourceName: "cart-1"}, "oom-kill on shop/cart-1"},
		{"a cluster-wide one", event.Key{Type: event.OOMKill, ResourceName: "node-3"}, "oom-kill on node-3"},
		{"an alert with its fingerprint", event.Key{Type: "alert-firing", Namespace: "shop", ResourceName: "HighLatency", Fingerprint: "1a2b"},
			"alert-firing on shop/HighLatency (1a2b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.Describe(); got != tt.want {
				t.Fatalf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAKeyTooLongForTheStatusIsBoundedAndStaysDistinct(t *testing.T) {
	long := strings.Repeat("f", 300)
	tests := []struct {
		name string
		e    event.Event
	}{
		{"a fingerprint longer than the CRD allows", event.Event{Fingerprint: long}},
		{"a namespace label longer than a namespace", event.Event{Namespace: long}},
		{"a resource name longer than an object name", event.Event{ResourceName: long + "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.e.KeyFits() {
				t.Fatal("KeyFits = true for a key too long")
			}
			b := tt.e.WithKeyBounded()
			if !b.KeyFits() || !utf8.ValidString(b.ResourceName) {
				t.Fatalf("bounded key %+v does not fit", b.Key())
			}
			other := tt.e
			other.Fingerprint, other.Namespace, other.ResourceName = other.Fingerprint+"x", other.Namespace+"x", other.ResourceName+"x"
			if other.WithKeyBounded().Key() == b.Key() {
				t.Fatal("two long keys became one")
			}
			if again := tt.e.WithKeyBounded(); again.Key() != b.Key() {
				t.Fatal("bounding is not stable")
			}
		})
	}
}

func TestAnEventIsBoundedToWhatKhookKeepsWhicheverSourceSentIt(t *testing.T) {
	huge := map[string]string{}
	for i := range 500 {
		huge[fmt.Sprintf("label-%03d", i)] = strings.Repeat("v", 100)
	}
	huge["label-000"] = strings.Repeat("v", 5000)
	huge[strings.Repeat("k", 300)] = "a key too long"
	e := event.Event{Message: strings.Repeat("é", 10000), Reason: strings.Repeat("r", 5000), Metadata: huge, Tags: huge}
	b := e.Bounded()
	if !b.Fits() || !utf8.ValidString(b.Message) || len(b.Metadata) != event.MaxMapEntries || len(b.Tags) != event.MaxMapEntries {
		t.Fatalf("bounded event: message %d bytes, reason %d, %d metadata, %d tags", len(b.Message), len(b.Reason), len(b.Metadata), len(b.Tags))
	}
	if _, kept := b.Metadata[strings.Repeat("k", 300)]; kept {
		t.Fatal("a key longer than the bound was kept")
	}
	small := event.Event{Message: "m", Metadata: map[string]string{"a": "b"}}
	if got := testing.AllocsPerRun(100, func() { _ = small.Bounded() }); got != 0 {
		t.Fatalf("bounding an event that fits allocates %v times, want none", got)
	}
}

func TestTheWorkloadAndNodeAreBoundedAndTwoLongNamesStayTwo(t *testing.T) {
	long := strings.Repeat("w", 300)
	tests := []struct {
		name  string
		e     event.Event
		check func(b event.Event) string
	}{
		{"a workload kind longer than a text is cut", event.Event{Workload: event.Workload{Kind: strings.Repeat("K", 600), Name: "web"}},
			func(b event.Event) string {
				if len(b.Workload.Kind) != event.MaxTextBytes || b.Workload.Name != "web" {
					return fmt.Sprintf("workload %q", b.Workload)
				}
				return ""
			}},
		{"a workload name longer than an object name is bounded by a hash", event.Event{Workload: event.Workload{Kind: "Deployment", Name: long}},
			func(b event.Event) string {
				if len(b.Workload.Name) != event.MaxResourceNameLength || b.Workload.Name == long[:event.MaxResourceNameLength] {
					return fmt.Sprintf("workload name %q", b.Workload.Name)
				}
				return ""
			}},
		{"a node name longer than an object name is bounded by a hash", event.Event{Node: long + "é"},
			func(b event.Event) string {
				if len(b.Node) > event.MaxResourceNameLength || !utf8.ValidString(b.Node) {
					return fmt.Sprintf("node %q", b.Node)
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.e.Fits() {
				t.Fatal("Fits = true for an event too large")
			}
			b := tt.e.Bounded()
			if !b.Fits() {
				t.Fatalf("the bounded event does not fit: %+v", b)
			}
			if problem := tt.check(b); problem != "" {
				t.Fatal(problem)
			}
			other := tt.e
			other.Workload.Name, other.Node = other.Workload.Name+"x", other.Node+"x"
			if o := other.Bounded(); tt.e.Workload.Name != "" && o.Workload.Name == b.Workload.Name || tt.e.Node != "" && o.Node == b.Node {
				t.Fatal("two long names became one")
			}
		})
	}
	small := event.Event{Workload: event.Workload{Kind: "Deployment", Name: "web"}, Node: "node-1"}
	if b := small.Bounded(); !small.Fits() || b.Workload != small.Workload || b.Node != small.Node {
		t.Fatal("an event with a workload and a node that fit was changed")
	}
}

func TestAWorkloadSaysWhatItIs(t *testing.T) {
	if w := (event.Workload{}); !w.IsZero() || w.String() != "" {
		t.Fatalf("the zero workload is %q, zero %v", w.String(), w.IsZero())
	}
	if w := (event.Workload{Kind: "Deployment", Name: "web"}); w.IsZero() || w.String() != "Deployment/web" {
		t.Fatalf("workload = %q, zero %v", w.String(), w.IsZero())
	}
}
