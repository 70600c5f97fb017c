package prometheus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/alerting"
)

const alwaysFiring = `groups:
  - name: khook-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          namespace: shop
          pod: api-0
          severity: critical
        annotations:
          summary: Always firing, for khook's tests
`

func TestTheRealPrometheusFiringRuleBecomesAnEventAndResolvesWhenItGoes(t *testing.T) {
	prom := alerting.StartPrometheus(t, alwaysFiring)
	src := newSource(t, ports.Settings{"endpoint": prom.URL, "interval": "200ms"})
	sink := &recorder{}
	watch(t, src, sink)

	eventually(t, 60*time.Second, func() error {
		if len(sink.got()) == 0 {
			return errors.New("no event yet")
		}
		return nil
	})
	e := sink.got()[0]
	if e.Type != "prometheus-alert" || e.SourceType != "AlwaysFiring" || e.Namespace != "shop" || e.ResourceName != "api-0" ||
		e.Severity != "critical" || e.Message != "Always firing, for khook's tests" || e.Fingerprint == "" || e.Resolves() {
		t.Errorf("event %+v", e)
	}
	if e.Metadata["alertname"] != "AlwaysFiring" || e.Metadata["pod"] != "api-0" || e.Metadata["summary"] == "" {
		t.Errorf("metadata %v lacks the labels and annotations", e.Metadata)
	}
	if e.Metadata["value"] != "1e+00" { // vector(1), as Prometheus formats it
		t.Errorf("metadata value = %q, want the alert's value 1e+00", e.Metadata["value"])
	}

	prom.SetRules(t, "groups: []\n")
	eventually(t, 60*time.Second, func() error {
		for _, r := range sink.got() {
			if r.Resolves() && r.Key() == e.Key() {
				return nil
			}
		}
		return errors.New("the removed rule's alert did not resolve")
	})
}
