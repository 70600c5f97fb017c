package integration

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/metrics"
	"github.com/khook-dev/khook/app"
)

// TestTheMetricsEndpointAnswersOnlyTokensAllowedToGetIt serves /metrics as khook does by default
// (app.MetricsServerOptions, secure), talking to the API server as the chart's service account
// with the chart's RBAC, and scrapes it as strangers and as an account bound to the chart's
// ClusterRole khook-metrics-reader.
func TestTheMetricsEndpointAnswersOnlyTokensAllowedToGetIt(t *testing.T) {
	applyChartRBAC(t)
	if _, err := metrics.New(metrics.Options{}); err != nil { // khook's series, on the registry served
		t.Fatal(err)
	}
	ctx := context.Background()
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	token := func(name string) string {
		t.Helper()
		if _, err := clientset.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a token for %s: %v", name, err)
		}
		// The endpoint caches what the API server says for a minute: ask it first, until it
		// knows the account, so that no early "unknown" is cached.
		eventually(t, 10*time.Second, func() error {
			review, err := clientset.AuthenticationV1().TokenReviews().Create(ctx,
				&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if !review.Status.Authenticated {
				return fmt.Errorf("the API server does not know %s's token yet: %s", name, review.Status.Error)
			}
			return nil
		})
		return tr.Status.Token
	}
	reader, stranger := token("scraper"), token("stranger")
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "khook-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "scraper"}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), binding) })
	// A denial is cached for 30 s: wait until RBAC allows the reader before it scrapes.
	eventually(t, 10*time.Second, func() error {
		sar, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + ns + ":scraper", NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
		}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if !sar.Status.Allowed {
			return fmt.Errorf("RBAC does not let the reader get /metrics yet: %s", sar.Status.Reason)
		}
		return nil
	})

	addr := serveMetrics(t, app.MetricsServing{BindAddress: "127.0.0.1:0", Secure: true})
	scrape := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the self-signed certificate made at start
	}}
	tests := []struct {
		name, token string
		want        int
	}{
		{"a request without a token is refused as unauthenticated", "", http.StatusUnauthorized},
		{"a token the API server does not know is refused as unauthenticated", "not-a-token", http.StatusUnauthorized},
		{"a valid token of an account that may not get /metrics is forbidden", stranger, http.StatusForbidden},
		{"a token of an account bound to the chart's khook-metrics-reader reads the metrics", reader, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := scrape.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET /metrics = %d %q, want %d", resp.StatusCode, firstLine(body), tt.want)
			}
			if tt.want == http.StatusOK && !strings.Contains(string(body), "khook_status_writes_total") {
				t.Fatalf("the reader's scrape has no khook metrics: %q", firstLine(body))
			}
			if tt.want != http.StatusOK && strings.Contains(string(body), "khook_") {
				t.Fatalf("a refused scrape shows metrics: %q", firstLine(body))
			}
		})
	}
	t.Run("plain HTTP gets no metrics", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
		if err != nil {
			return // refused outright: fine
		}
		defer resp.Body.Close()
		if body, _ := io.ReadAll(resp.Body); resp.StatusCode == http.StatusOK || strings.Contains(string(body), "khook_") {
			t.Fatalf("plain HTTP got %d %q", resp.StatusCode, firstLine(body))
		}
	})
}

// serveMetrics runs controller-runtime's metrics server with khook's options for s, talking to
// the API server as the chart's service account (for the token and access reviews of secure
// serving), and returns its address; the test's end stops it.
func serveMetrics(t *testing.T, s app.MetricsServing) string {
	t.Helper()
	opts, err := app.MetricsServerOptions(s)
	if err != nil {
		t.Fatal(err)
	}
	asChart := rest.CopyConfig(restConfig)
	asChart.Impersonate = rest.ImpersonationConfig{
		UserName: chartServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + chartNamespace, "system:authenticated"},
	}
	httpClient, err := rest.HTTPClientFor(asChart)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(opts, asChart, httpClient)
	if err != nil {
		t.Fatalf("the metrics server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the metrics server stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the metrics server did not stop")
		}
	})
	bound, ok := srv.(interface{ GetBindAddr() string })
	if !ok {
		t.Fatalf("controller-runtime's metrics server (%T) no longer says its address", srv)
	}
	var addr string
	eventually(t, 10*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the metrics server stopped: %v", err)
		default:
		}
		if addr = bound.GetBindAddr(); addr == "" {
			return errors.New("the metrics server listens nowhere yet")
		}
		return nil
	})
	return addr
}

func firstLine(body []byte) string {
	line, _, _ := strings.Cut(string(body), "\n")
	return line
}
