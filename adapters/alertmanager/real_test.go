package alertmanager_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/alerting"
)

// eventually polls check until it passes or timeout runs out.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTheRealAlertmanagerFiresAndResolvesThroughTheWebhook(t *testing.T) {
	sink := &recorder{}
	url := startSource(t, ports.Settings{"bearerToken": "t0ken"}, sink)
	am := alerting.StartAlertmanager(t, url, alerting.AlertmanagerOptions{BearerToken: "t0ken"})

	labels := map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-0", "severity": "critical"}
	startsAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	am.Post(t, alerting.Alert{Labels: labels, Annotations: map[string]string{"summary": "api-0 keeps crashing"}, StartsAt: startsAt})

	var firing event.Event
	eventually(t, 60*time.Second, func() error {
		got := sink.got()
		if len(got) == 0 {
			return fmt.Errorf("no event yet")
		}
		firing = got[0]
		return nil
	})
	if firing.Resolves() || firing.Type != "alert-firing" || firing.Namespace != "shop" || firing.ResourceName != "api-0" ||
		firing.SourceType != "KubePodCrashLooping" || firing.Severity != "critical" || firing.Message != "api-0 keeps crashing" ||
		firing.Fingerprint == "" || !firing.Timestamp.Equal(startsAt) {
		t.Errorf("firing event %+v", firing)
	}
	for k, v := range labels {
		if firing.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want the label's %q", k, firing.Metadata[k], v)
		}
	}

	am.Post(t, alerting.Alert{Labels: labels, StartsAt: startsAt, EndsAt: time.Now().Add(-time.Second)})
	eventually(t, 60*time.Second, func() error {
		for _, e := range sink.got() {
			if e.Resolves() {
				if e.Key() != firing.Key() || e.Resolution != event.Recovered {
					return fmt.Errorf("resolution %+v does not end the firing %s", e, firing.Key())
				}
				return nil
			}
		}
		return fmt.Errorf("no resolution yet among %d events", len(sink.got()))
	})
}
