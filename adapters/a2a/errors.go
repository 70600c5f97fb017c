package a2a

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"

	"github.com/khook-dev/khook/ports"
)

// StatusError is an HTTP error status an agent (or Kagent) answered with.
type StatusError struct {
	Code int
	// Body is the start of the answer, for people.
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// statusErrors turns error statuses into *StatusError so that the layers above (a2a-go wraps
// transport errors with %w) keep the code, which its JSON-RPC client otherwise reduces to text.
type statusErrors struct{ next http.RoundTripper }

func (t statusErrors) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return nil, &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
}

// permanentA2AErrors are protocol errors that say the request itself is wrong.
var permanentA2AErrors = []error{
	a2a.ErrParseError, a2a.ErrInvalidRequest, a2a.ErrMethodNotFound, a2a.ErrInvalidParams,
	a2a.ErrUnsupportedOperation, a2a.ErrUnsupportedContentType, a2a.ErrVersionNotSupported,
	a2a.ErrUnauthenticated, a2a.ErrUnauthorized, a2a.ErrExtensionSupportRequired,
}

// classify wraps err with what the domain needs to decide about retries:
//   - ports.ErrPermanent when retrying cannot help: no such agent (404, also ports.ErrAgentNotFound:
//     the engine then remembers the agent as absent for a while), refused (401, 403), a request
//     the agent calls malformed;
//   - ports.ErrTaskNotFound when the agent does not know the task;
//   - ports.ErrUncertain when the request may have reached the agent: a timeout or a connection
//     lost after it was sent;
//   - nothing for the rest (the request surely did not get through: connection refused, DNS,
//     an answer of 5xx, 408 or 429), which is safe to send again.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, a2a.ErrTaskNotFound) {
		return fmt.Errorf("%w: %w", ports.ErrTaskNotFound, err)
	}
	for _, p := range permanentA2AErrors {
		if errors.Is(err, p) {
			return fmt.Errorf("%w: %w", ports.ErrPermanent, err)
		}
	}
	code := 0
	var se *StatusError
	var card *agentcard.ErrStatusNotOK
	switch {
	case errors.As(err, &se):
		code = se.Code
	case errors.As(err, &card):
		code = card.StatusCode
	}
	if code == http.StatusNotFound {
		return fmt.Errorf("%w: %w: %w", ports.ErrPermanent, ports.ErrAgentNotFound, err)
	}
	if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", ports.ErrPermanent, err)
	}
	if code != 0 || notSent(err) {
		return err
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &netErr) && netErr.Timeout()) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %w", ports.ErrUncertain, err)
	}
	return err
}

// notSent reports errors that happen before a request leaves: no connection, no address.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}
