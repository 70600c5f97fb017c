package alertmanager_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/adapters/alertmanager"
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

// TestTheRealAlertmanagerSendsAgainAPostRefusedForTheRate: the per-minute cap answers 503, which
// Alertmanager retries within the same notification (it does not retry a 429, and its group
// interval here is an hour), so the alert arrives once the bucket has refilled.
func TestTheRealAlertmanagerSendsAgainAPostRefusedForTheRate(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	sink := &recorder{}
	src := start(t, ports.Settings{"maxAlertsPerMinute": 1, "maxAlertsPerPost": 1}, sink,
		func(s *alertmanager.Source) { s.SetClock(clk) })
	if code, _ := post(t, src.url, payload(firingAlert("drain", "2026-08-01T10:00:00Z"))); code != http.StatusOK {
		t.Fatalf("the post that empties the bucket: %d", code)
	}
	am := alerting.StartAlertmanager(t, src.url, alerting.AlertmanagerOptions{GroupInterval: time.Hour})
	am.Post(t, alerting.Alert{Labels: map[string]string{"alertname": "KhookRateTest", "namespace": "shop"}})
	eventually(t, 60*time.Second, func() error {
		if src.refused.count("rate-limited") == 0 {
			return fmt.Errorf("Alertmanager's post was not refused yet")
		}
		return nil
	})
	clk.SetTime(clk.Now().Add(time.Minute))
	eventually(t, 60*time.Second, func() error {
		for _, e := range sink.got() {
			if e.SourceType == "KhookRateTest" {
				return nil
			}
		}
		return fmt.Errorf("the refused alert did not arrive (%d refusals)", src.refused.count("rate-limited"))
	})
}

// TestTheRealAlertmanagersMaxAlertsKeepsAGroupWithinMaxAlertsPerPost: with max_alerts at most
// maxAlertsPerPost, as docs/sources.md says, a big group is cut by Alertmanager and taken.
func TestTheRealAlertmanagersMaxAlertsKeepsAGroupWithinMaxAlertsPerPost(t *testing.T) {
	sink := &recorder{}
	src := start(t, ports.Settings{"maxAlertsPerPost": 2}, sink)
	am := alerting.StartAlertmanagerWithConfig(t, fmt.Sprintf(`route:
  receiver: khook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1h
receivers:
  - name: khook
    webhook_configs:
      - url: %q
        max_alerts: 2
`, src.url))
	var group []alerting.Alert
	for _, pod := range []string{"a", "b", "c"} {
		group = append(group, alerting.Alert{Labels: map[string]string{"alertname": "KhookGroupTest", "namespace": "shop", "pod": pod}})
	}
	am.Post(t, group...)
	eventually(t, 60*time.Second, func() error {
		if n := len(sink.got()); n != 2 {
			return fmt.Errorf("%d events, want the 2 alerts max_alerts lets through", n)
		}
		return nil
	})
	if n := src.refused.count("too-many-alerts"); n != 0 {
		t.Errorf("%d posts refused for too many alerts", n)
	}
}
