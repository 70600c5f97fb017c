package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/alerting"
	"github.com/khook-dev/khook/test/echoagent"
)

const alertPrompt = "Alert {{.Reason}} on {{.ResourceName}}: {{range $k, $v := .Metadata}}{{$k}}={{$v}} {{end}}"

// alertScene is khook with the Alertmanager source, the real Alertmanager routing to it, and a
// Hook for alert-firing in its own namespace.
type alertScene struct {
	ns     string
	agent  *echoagent.Server
	am     *alerting.Alertmanager
	labels map[string]string
	url    string // the webhook khook serves
}

func startAlertScene(t *testing.T) *alertScene {
	t.Helper()
	s := &alertScene{ns: newNamespace(t), agent: startAgent(t, echoagent.Options{})}
	listen := "127.0.0.1:" + strconv.Itoa(alerting.FreePort(t))
	s.url = "http://" + listen + "/webhook"
	opts := fastOptions(s.agent.URL)
	opts.EventSources = &sources.Config{EventSources: []sources.SourceConfig{{
		Name: "alertmanager", Settings: ports.Settings{"listenAddress": listen, "bearerToken": "t0ken"},
	}}}
	startKhook(t, opts)
	create(t, newHook(s.ns, "alerts", "alert-agent", alertPrompt, "alert-firing"))
	if c := waitAccepted(t, s.ns, "alerts"); c.Status != metav1.ConditionTrue {
		t.Fatalf("a Hook for the enabled Alertmanager source's type was not accepted: %+v", c)
	}
	s.am = alerting.StartAlertmanager(t, "http://"+listen+"/webhook", alerting.AlertmanagerOptions{BearerToken: "t0ken"})
	s.labels = map[string]string{"alertname": "KhookTestCrashLooping", "namespace": s.ns, "pod": "web-1", "severity": "critical"}
	return s
}

func (s *alertScene) fire(t *testing.T, startsAt time.Time) {
	s.am.Post(t, alerting.Alert{Labels: s.labels, Annotations: map[string]string{"summary": "web-1 keeps crashing"}, StartsAt: startsAt})
}

func (s *alertScene) resolve(t *testing.T, startsAt time.Time) {
	s.am.Post(t, alerting.Alert{Labels: s.labels, StartsAt: startsAt, EndsAt: time.Now().Add(-time.Second)})
}

// activeAlert waits until the Hook's status shows the alert's event in state want and check
// passes on it, and returns it.
func (s *alertScene) activeAlert(t *testing.T, want v1alpha2.EventStatus, check func(v1alpha2.ActiveEvent) error) v1alpha2.ActiveEvent {
	t.Helper()
	var found v1alpha2.ActiveEvent
	eventually(t, 30*time.Second, func() error {
		st := hookStatus(t, s.ns, "alerts")
		for _, a := range st.ActiveEvents {
			if a.EventType == "alert-firing" && a.Namespace == s.ns && a.ResourceName == "web-1" {
				if a.Status != want {
					return fmt.Errorf("the alert's active event is %s, want %s: %+v", a.Status, want, a)
				}
				if check != nil {
					if err := check(a); err != nil {
						return err
					}
				}
				found = a
				return nil
			}
		}
		return fmt.Errorf("no active event for the alert: %+v", st.ActiveEvents)
	})
	return found
}

func TestAnAlertFromTheRealAlertmanagerReachesTheHooksAgentOnceWithItsLabels(t *testing.T) {
	s := startAlertScene(t)
	startsAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	s.fire(t, startsAt)

	got := received(t, s.agent, "kagent/alert-agent", 1)[0]
	if !strings.HasPrefix(got.Text, "Alert KhookTestCrashLooping on web-1: ") {
		t.Errorf("agent received %q", got.Text)
	}
	for k, v := range s.labels {
		if !strings.Contains(got.Text, k+"="+v+" ") {
			t.Errorf("the prompt %q lacks the label %s=%s", got.Text, k, v)
		}
	}
	s.activeAlert(t, v1alpha2.EventFiring, nil)
}

func TestAResolvedAlertFromTheRealAlertmanagerResolvesItsActiveEvent(t *testing.T) {
	s := startAlertScene(t)
	startsAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	s.fire(t, startsAt)
	received(t, s.agent, "kagent/alert-agent", 1)
	s.activeAlert(t, v1alpha2.EventFiring, nil)

	s.resolve(t, startsAt)
	s.activeAlert(t, v1alpha2.EventResolved, nil)
	if n := len(s.agent.ReceivedBy("kagent/alert-agent")); n != 1 {
		t.Errorf("the agent was called %d times, want once (a resolution calls no agent)", n)
	}
}

// TestAnAlertWhoseFingerprintIsTooLongForTheCRDStillReachesTheHooksStatus: a fingerprint over
// the CRD's 128 characters made every status write of the Hook fail; it is replaced by its
// SHA-256, and two such alerts stay two events.
func TestAnAlertWhoseFingerprintIsTooLongForTheCRDStillReachesTheHooksStatus(t *testing.T) {
	s := startAlertScene(t)
	long := strings.Repeat("f", 300)
	var alerts []string
	want := map[string]bool{}
	for _, tail := range []string{"1", "2"} {
		sum := sha256.Sum256([]byte(long + tail))
		want[hex.EncodeToString(sum[:])] = true
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"KhookLongFingerprint","namespace":%q,"pod":"web-1"},
			"startsAt":"2026-08-01T10:00:00Z","fingerprint":%q}`, s.ns, long+tail))
	}
	body := `{"version":"4","status":"firing","alerts":[` + strings.Join(alerts, ",") + `]}`
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the post: %d", resp.StatusCode)
	}
	eventually(t, 30*time.Second, func() error {
		got := map[string]bool{}
		for _, a := range hookStatus(t, s.ns, "alerts").ActiveEvents {
			if a.ResourceName == "web-1" {
				got[a.Fingerprint] = true
			}
		}
		if len(got) != 2 || !maps.Equal(got, want) {
			return fmt.Errorf("active events' fingerprints %v, want the SHA-256 of each alert's", slices.Collect(maps.Keys(got)))
		}
		return nil
	})
	received(t, s.agent, "kagent/alert-agent", 2)
}
