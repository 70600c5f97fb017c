package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"
)

// reviewer plays the API server's TokenReview and SubjectAccessReview endpoints: token "reader"
// is user reader, allowed; "stranger" is user stranger, denied; "broken-authz" is a user whose
// review fails; any other token is one the API server cannot read.
func reviewer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/tokenreviews"):
			var review authenticationv1.TokenReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			switch tok := review.Spec.Token; tok {
			case "reader", "stranger", "broken-authz":
				review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: tok}}
			default:
				review.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
			}
			_ = json.NewEncoder(w).Encode(review)
		case strings.HasSuffix(r.URL.Path, "/subjectaccessreviews"):
			var review authorizationv1.SubjectAccessReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if review.Spec.User == "broken-authz" {
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":400,"reason":"BadRequest"}`, http.StatusBadRequest)
				return
			}
			allowed := review.Spec.User == "reader" && review.Spec.NonResourceAttributes != nil &&
				review.Spec.NonResourceAttributes.Path == "/metrics" && review.Spec.NonResourceAttributes.Verb == "get"
			review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: allowed}
			_ = json.NewEncoder(w).Encode(review)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// logLines is a logger that counts its error lines.
type logLines struct {
	mu     sync.Mutex
	errors []string
}

func TestTheMetricsFilterAnswersEachRequestAndLogsFailuresAtMostOnceAMinute(t *testing.T) {
	api := reviewer(t)
	cfg := &rest.Config{Host: api.URL}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tokens   []string // one request each
		want     int
		wantLogs int
	}{
		{"a request without a token is 401, and nothing is logged", []string{""}, http.StatusUnauthorized, 0},
		{"tokens the API server cannot read are 401, not 500, and logged once however many",
			[]string{"junk-1", "junk-2", "junk-3", "junk-4", "junk-5", "junk-6", "junk-7", "junk-8"}, http.StatusUnauthorized, 1},
		{"a token allowed to get /metrics passes", []string{"reader"}, http.StatusOK, 0},
		{"a token not allowed is 403, logged only when verbose", []string{"stranger", "stranger"}, http.StatusForbidden, 0},
		{"an authorization that cannot be asked is 500, logged once", []string{"broken-authz", "broken-authz"}, http.StatusInternalServerError, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			provide, err := metricsAuthFilter(cfg, httpClient)
			if err != nil {
				t.Fatal(err)
			}
			logs := &logLines{}
			log := funcr.New(func(prefix, args string) {
				if strings.Contains(args, `"error"`) {
					logs.mu.Lock()
					logs.errors = append(logs.errors, args)
					logs.mu.Unlock()
				}
			}, funcr.Options{})
			h, err := provide(log, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("khook_metrics 1\n")) }))
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range tt.tokens {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.want {
					t.Fatalf("token %q: %d %q, want %d", tok, rec.Code, rec.Body.String(), tt.want)
				}
				if tt.want != http.StatusOK && strings.Contains(rec.Body.String(), "khook_") {
					t.Fatalf("token %q was refused but got the metrics", tok)
				}
			}
			if len(logs.errors) != tt.wantLogs {
				t.Fatalf("logged %d errors, want %d: %q", len(logs.errors), tt.wantLogs, logs.errors)
			}
		})
	}
}
