// Package alerting starts the real Alertmanager and Prometheus for tests, on free loopback
// ports with their own configuration and storage in the test's temporary directory, and stops
// them when the test ends. The binaries come from Debian's prometheus-alertmanager and
// prometheus packages, which `make test` installs where missing (hack/alerting.sh); the
// variables KHOOK_ALERTMANAGER and KHOOK_PROMETHEUS override where they are looked for.
package alerting
