package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// MetricsServing says how the manager serves /metrics.
type MetricsServing struct {
	// BindAddress is host:port, or "0" to serve no metrics.
	BindAddress string
	// Secure serves HTTPS, and answers only a request whose bearer token the API server
	// authenticates (a TokenReview) and authorises to get the non-resource URL /metrics (a
	// SubjectAccessReview): 401 without a valid token, 403 without the permission. khook's own
	// identity then needs create on tokenreviews and subjectaccessreviews. Without Secure,
	// anyone who reaches the address reads the metrics over plain HTTP.
	Secure bool
	// CertDir holds the serving certificate, tls.crt and tls.key (a kubernetes.io/tls Secret
	// mounted there, say), read again when they change. Empty: a self-signed certificate made at
	// start (scrapers then skip verification, as for kube-controller-manager's metrics).
	CertDir string
}

// Certificate and key file names in MetricsServing.CertDir, as a kubernetes.io/tls Secret has them.
const (
	MetricsCertName = "tls.crt"
	MetricsKeyName  = "tls.key"
)

// MetricsServerOptions returns controller-runtime's metrics server options for s, the way
// kubebuilder scaffolds them: over HTTPS behind a TokenReview and a SubjectAccessReview (as
// filters.WithAuthenticationAndAuthorization, but a malformed token is 401, not 500, and
// failures are logged at most once a minute; see metricsAuthFilter), HTTP/2 off (HTTP/1.1 is
// enough for a scrape, and keeps HTTP/2's stream attacks away). A CertDir without both files
// is an error: controller-runtime would fall back to a self-signed certificate without a word,
// and scrapers that verify it would fail.
func MetricsServerOptions(s MetricsServing) (metricsserver.Options, error) {
	o := metricsserver.Options{BindAddress: s.BindAddress}
	if !s.Secure {
		if s.CertDir != "" {
			return o, errors.New("a metrics certificate directory needs secure serving")
		}
		return o, nil
	}
	o.SecureServing = true
	o.FilterProvider = metricsAuthFilter
	o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	if s.CertDir != "" {
		var errs []error
		for _, name := range []string{MetricsCertName, MetricsKeyName} {
			if _, err := os.Stat(filepath.Join(s.CertDir, name)); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return o, fmt.Errorf("metrics certificate directory %s: %w", s.CertDir, errors.Join(errs...))
		}
		o.CertDir, o.CertName, o.KeyName = s.CertDir, MetricsCertName, MetricsKeyName
	}
	return o, nil
}
