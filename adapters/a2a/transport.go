package a2a

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Security says how to reach a secured Kagent. Every field is optional.
type Security struct {
	// CAFile is a PEM bundle of the certificate authorities Kagent's TLS certificate is checked
	// against, in addition to the system's.
	CAFile string
	// TokenFile holds a bearer token sent as "Authorization: Bearer …" on every request. The file
	// is read again when it changes (a projected service-account token is rotated in place).
	TokenFile string
	// Headers are sent on every request, e.g. {"X-Tenant": "platform"}.
	Headers map[string]string
}

// Validate reports what is wrong with the settings, naming the field. Files are read when the
// caller is made (the CA bundle) and on every request (the token), not here: they live where
// khook runs, which may not be where its flags are checked.
func (s Security) Validate() error {
	var errs []error
	for name := range s.Headers {
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, " :\r\n") {
			errs = append(errs, fmt.Errorf("Headers: %q is not a header name", name))
		}
		if s.TokenFile != "" && strings.EqualFold(name, "Authorization") {
			errs = append(errs, errors.New("Headers: Authorization is set by TokenFile already"))
		}
	}
	return errors.Join(errs...)
}

func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// MaxIdleConnsPerHost is how many idle connections to Kagent khook keeps. Every agent lives on
// Kagent's one host, and sends and polls of many agents run at once: with net/http's default
// of 2, all but two connections were closed after each burst and dialled again for the next
// (thousands of new connections a minute under load, each costing a TCP handshake).
const MaxIdleConnsPerHost = 100

// transport returns base (nil: a copy of http.DefaultTransport keeping MaxIdleConnsPerHost idle
// connections) set up for s and the user: the CA bundle, then on every request the extra
// headers, the token and X-User-Id.
func (s Security) transport(base http.RoundTripper, userID string) (http.RoundTripper, error) {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
		t.MaxIdleConns = max(t.MaxIdleConns, MaxIdleConnsPerHost)
		base = t
	}
	if s.CAFile != "" {
		t, ok := base.(*http.Transport)
		if !ok {
			return nil, errors.New("a CA bundle needs an *http.Transport to configure")
		}
		pool, err := caPool(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CAFile: %w", err)
		}
		t = t.Clone()
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t.TLSClientConfig.RootCAs = pool
		base = t
	}
	h := &headers{next: base, userID: userID, extra: s.Headers}
	if s.TokenFile != "" {
		h.token = &tokenFile{path: s.TokenFile}
	}
	return h, nil
}

// headers adds khook's headers to every request.
type headers struct {
	next   http.RoundTripper
	userID string
	extra  map[string]string
	token  *tokenFile
}

func (h *headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.extra {
		r.Header.Set(k, v)
	}
	if h.userID != "" {
		r.Header.Set("X-User-Id", h.userID)
	}
	if h.token != nil {
		tok, err := h.token.get()
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return h.next.RoundTrip(r)
}

// tokenFile reads a token, and reads it again once the file changed.
type tokenFile struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

func (t *tokenFile) get() (string, error) {
	info, err := os.Stat(t.path)
	if err != nil {
		return "", fmt.Errorf("reading the Kagent token: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && info.ModTime().Equal(t.modTime) && info.Size() == t.size {
		return t.token, nil
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return "", fmt.Errorf("reading the Kagent token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("the Kagent token file %s is empty", t.path)
	}
	t.token, t.modTime, t.size = tok, info.ModTime(), info.Size()
	return tok, nil
}
