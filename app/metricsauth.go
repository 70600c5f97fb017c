package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsAuthLogEvery is how often, at most, a failed authentication or authorization of a
// metrics request is logged: strangers may send them as fast as they like.
const metricsAuthLogEvery = time.Minute

// metricsAuthFilter authenticates each request for /metrics with a TokenReview and authorises it
// with a SubjectAccessReview (get on the request's path), as controller-runtime's
// filters.WithAuthenticationAndAuthorization does, with the same caches (a minute for a token,
// five minutes for an allowed request, 30 s for a denied one). Two things differ, because the
// endpoint faces anyone who reaches the port:
//   - a token the API server cannot read (TokenReview answers with an error) is 401, as the API
//     server itself answers, not 500: it is a stranger's, not khook's trouble;
//   - failures are logged at most once a minute, so that such requests cannot fill the log.
//
// An authorization that fails (the API server cannot be asked) is 500.
func metricsAuthFilter(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("the TokenReview client: %w", err)
	}
	authz, err := authorizationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("the SubjectAccessReview client: %w", err)
	}
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5} // the API server's default
	authenticator, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 time.Minute,
		TokenAccessReviewClient:  authn,
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("the metrics authenticator: %w", err)
	}
	authorizerOf, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: authz,
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("the metrics authorizer: %w", err)
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		var nextLog atomic.Int64 // unix nanoseconds before which nothing more is logged
		logLimited := func(err error, msg string, kv ...any) {
			now := time.Now().UnixNano()
			if last := nextLog.Load(); now < last || !nextLog.CompareAndSwap(last, now+int64(metricsAuthLogEvery)) {
				return
			}
			log.Error(err, msg+" (further failures within a minute are not logged)", kv...)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			res, ok, err := authenticator.AuthenticateRequest(req)
			if err != nil {
				logLimited(err, "could not authenticate a request for metrics; answered 401", "remote", req.RemoteAddr)
			}
			if err != nil || !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			attrs := authorizer.AttributesRecord{User: res.User, Verb: strings.ToLower(req.Method), Path: req.URL.Path}
			decision, reason, err := authorizerOf.Authorize(req.Context(), attrs)
			if err != nil {
				logLimited(err, "could not authorise a request for metrics; answered 500", "user", res.User.GetName())
				http.Error(w, "Authorization failed", http.StatusInternalServerError)
				return
			}
			if decision != authorizer.DecisionAllow {
				log.V(1).Info("metrics request forbidden", "user", res.User.GetName(), "reason", reason)
				http.Error(w, "Forbidden: "+res.User.GetName()+" may not get this", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, req)
		}), nil
	}, nil
}
