package app

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
)

func TestCacheOptions(t *testing.T) {
	opts := CacheOptions()
	kinds := map[reflect.Type]bool{}
	for obj, by := range opts.ByObject {
		kinds[reflect.TypeOf(obj)] = by.Transform != nil
	}
	hook := func(managed []metav1.ManagedFieldsEntry) *v1alpha2.Hook {
		return &v1alpha2.Hook{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "h", Labels: map[string]string{"team": "a"}, ManagedFields: managed},
			Spec:       v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{EventType: "pod-restart", Prompt: "look"}}},
		}
	}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"Pods are reduced by a transform of their own", func(t *testing.T) {
			if !kinds[reflect.TypeFor[*corev1.Pod]()] {
				t.Fatalf("ByObject %v has no Pod transform", kinds)
			}
		}},
		{"Events are reduced by a transform of their own", func(t *testing.T) {
			if !kinds[reflect.TypeFor[*eventsv1.Event]()] {
				t.Fatalf("ByObject %v has no Event transform", kinds)
			}
		}},
		{"Nodes are reduced by a transform of their own", func(t *testing.T) {
			if !kinds[reflect.TypeFor[*corev1.Node]()] {
				t.Fatalf("ByObject %v has no Node transform", kinds)
			}
		}},
		{"nothing else has a transform of its own", func(t *testing.T) {
			if len(kinds) != 3 {
				t.Fatalf("ByObject configures %v", kinds)
			}
		}},
		{"a Hook loses its managed fields and keeps everything else", func(t *testing.T) {
			got, err := opts.DefaultTransform(hook([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}}))
			if err != nil {
				t.Fatal(err)
			}
			if want := client.Object(hook(nil)); !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("got %#v\nwant %#v", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}
