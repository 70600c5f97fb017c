package controlplane

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kwok manages the Nodes annotated NodeAnnotation=NodeAnnotationValue.
const (
	NodeAnnotation      = "kwok.x-k8s.io/node"
	NodeAnnotationValue = "fake"
)

// BehaviourLabel on a Pod asks kwok for trouble (stages/behaviours.yaml); without it a Pod runs
// and is ready.
const BehaviourLabel = "khook.dev/test-behaviour"

// Behaviours, the values of BehaviourLabel.
const (
	// CrashLoop: every container exits with code 1 (Error) RunSecondsAnnotation after it starts;
	// the first exit is restarted at once, later ones wait in CrashLoopBackOff with a doubling
	// back-off, restartCount grows, lastState holds the termination, and each back-off bumps the
	// kubelet's BackOff Event. With restartPolicy Never the container stays terminated and the
	// Pod fails.
	CrashLoop = "crashloop"
	// OOMKill: as CrashLoop, with reason OOMKilled and exit code 137.
	OOMKill = "oomkill"
	// Unready: the Pod runs, its containers are never ready, and the kubelet's Unhealthy Event
	// says the readiness probe failed.
	Unready = "unready"
)

// Annotations tuning the behaviours, in seconds (decimals allowed).
const (
	// RunSecondsAnnotation: how long a crashing container runs before it exits (default 1).
	RunSecondsAnnotation = "khook.dev/test-run-seconds"
	// BackoffSecondsAnnotation: the first crash-loop back-off (default 2, doubled at each
	// restart up to 300).
	BackoffSecondsAnnotation = "khook.dev/test-backoff-seconds"
)

//go:embed stages/*.yaml
var stageFiles embed.FS

// DefaultStages are the kwok Stages New applies: kwok's own node and pod lifecycles (what
// kwokctl would apply; kwok alone applies none) and the behaviours a Pod may ask for.
func DefaultStages() [][]byte {
	var out [][]byte
	for _, name := range []string{"stages/node.yaml", "stages/pod.yaml", "stages/behaviours.yaml"} {
		data, err := stageFiles.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("embedded %s: %v", name, err)) // cannot happen: embedded above
		}
		out = append(out, data)
	}
	return out
}

// ApplyStages creates or replaces the kwok Stages in docs (YAML, each one or more documents);
// kwok picks up the change at once.
func (c *ControlPlane) ApplyStages(ctx context.Context, docs ...[]byte) error {
	for _, doc := range docs {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096)
		for {
			var obj unstructured.Unstructured
			err := dec.Decode(&obj.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("reading a Stage: %w", err)
			}
			if len(obj.Object) == 0 {
				continue // an empty document
			}
			if obj.GetKind() != "Stage" || !strings.HasPrefix(obj.GetAPIVersion(), "kwok.x-k8s.io/") {
				return fmt.Errorf("%s %s is not a kwok Stage", obj.GetKind(), obj.GetName())
			}
			if err := c.applyStage(ctx, &obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *ControlPlane) applyStage(ctx context.Context, obj *unstructured.Unstructured) error {
	var current unstructured.Unstructured
	current.SetGroupVersionKind(obj.GroupVersionKind())
	err := c.client.Get(ctx, client.ObjectKeyFromObject(obj), &current)
	switch {
	case apierrors.IsNotFound(err):
		err = c.client.Create(ctx, obj)
	case err == nil:
		obj.SetResourceVersion(current.GetResourceVersion())
		err = c.client.Update(ctx, obj)
	}
	if err != nil {
		return fmt.Errorf("applying Stage %s: %w", obj.GetName(), err)
	}
	return nil
}

// DeleteStage deletes the kwok Stage name.
func (c *ControlPlane) DeleteStage(ctx context.Context, name string) error {
	var obj unstructured.Unstructured
	obj.SetAPIVersion("kwok.x-k8s.io/v1alpha1")
	obj.SetKind("Stage")
	obj.SetName(name)
	if err := c.client.Delete(ctx, &obj); err != nil {
		return fmt.Errorf("deleting Stage %s: %w", name, err)
	}
	return nil
}

// StartKwok starts kwok, the kubelet of every Node annotated NodeAnnotation: it renews their
// Leases and plays the Stages on them and their Pods. New starts it; call it again after StopKwok.
// A Node made Unknown while kwok was away is Ready again soon after (kwok's node-initialize
// stage), once kwok holds its Lease again (after the old holder's Lease expired).
func (c *ControlPlane) StartKwok() error {
	c.kwokMu.Lock()
	defer c.kwokMu.Unlock()
	if c.kwok != nil {
		if err := c.kwok.exitError(); err == nil {
			return errors.New("kwok runs already")
		}
	}
	home := filepath.Join(c.dir, "kwok-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("making kwok's home: %w", err)
	}
	// kwok loads ~/.kwok/kwok.yaml when there is one: give it a home of its own.
	env := []string{"HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	p, err := launch(ctx, 1, func(ports []int) (*process, error) {
		return startProcess("kwok", filepath.Join(c.opts.Assets, "kwok"), []string{
			"--kubeconfig=" + c.kwokKubeconfig,
			"--manage-nodes-with-annotation-selector=" + NodeAnnotation + "=" + NodeAnnotationValue,
			"--enable-crds=Stage",
			"--node-lease-duration-seconds=" + strconv.Itoa(int(c.opts.NodeLeaseDuration/time.Second)),
			"--server-address=127.0.0.1:" + strconv.Itoa(ports[0]),
			"--cidr=10.244.0.0/16",
		}, env, filepath.Join(c.dir, kwokLog))
	}, func(ctx context.Context, p *process, ports []int) error {
		return waitHealthy(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[0]))
	})
	if err != nil {
		return fmt.Errorf("starting kwok: %w", err)
	}
	c.kwok = p
	return nil
}

// StopKwok stops kwok and waits for it: its Nodes' Leases are no longer renewed, so the node
// lifecycle controller marks them Unknown after Options.NodeMonitorGracePeriod, and nothing
// plays their Pods' stages. Stopping a stopped kwok is harmless.
func (c *ControlPlane) StopKwok() error {
	c.kwokMu.Lock()
	defer c.kwokMu.Unlock()
	if c.kwok == nil {
		return nil
	}
	p := c.kwok
	c.kwok = nil
	if err := p.stop(30 * time.Second); err != nil {
		return err
	}
	return nil
}

var nodes atomic.Int64

// CreateNode creates a Node kwok plays the kubelet of (32 CPUs, 256Gi, 110 Pods; labelled
// kubernetes.io/hostname=name; an internal IP of its own in 10.1.0.0/16) and waits until it is
// Ready.
func (c *ControlPlane) CreateNode(ctx context.Context, name string) (*corev1.Node, error) {
	n := nodes.Add(1)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{NodeAnnotation: NodeAnnotationValue},
			Labels: map[string]string{
				corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
				"type": "kwok",
			},
		},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.1.%d.%d", n/250%256, n%250+1)},
				{Type: corev1.NodeHostName, Address: name},
			},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
				corev1.ResourcePods: resource.MustParse("110"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
				corev1.ResourcePods: resource.MustParse("110"),
			},
		},
	}
	if err := c.client.Create(ctx, node); err != nil {
		return nil, fmt.Errorf("creating node %s: %w", name, err)
	}
	err := c.waitFor(ctx, "node "+name+" to be Ready", func(ctx context.Context) error {
		if err := c.client.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return err
		}
		if s := NodeReady(node); s != corev1.ConditionTrue {
			return fmt.Errorf("node %s is Ready=%q", name, s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return node, nil
}

// AddNode is CreateNode for one test: the Node is deleted when the test ends.
func (c *ControlPlane) AddNode(t testing.TB, name string) *corev1.Node {
	t.Helper()
	node, err := c.CreateNode(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.client.Delete(context.Background(), node); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting node %s: %v", name, err)
		}
	})
	return node
}

// NodeReady is the status of node's Ready condition, "" when it has none.
func NodeReady(node *corev1.Node) corev1.ConditionStatus {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return ""
}

var namespaces atomic.Int64

// Namespace creates a namespace for one test, named after it, and waits for its default
// ServiceAccount (the API server refuses Pods until the controller-manager has made it). The
// namespace is deleted when the test ends; the namespace controller deletes what is in it.
func (c *ControlPlane) Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", namespaces.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.TrimRight(name, "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := c.client.Delete(context.Background(), ns); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	err := c.waitFor(context.Background(), "the default ServiceAccount of "+name, func(ctx context.Context) error {
		return c.client.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// Eventually polls check every 250ms until it returns nil, and fails t with check's last error
// when timeout has passed. Real components take their time: give them generous timeouts.
func Eventually(t testing.TB, timeout time.Duration, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := poll(ctx, check); err != nil {
		t.Fatalf("still failing after %s: %v", timeout, err)
	}
}
