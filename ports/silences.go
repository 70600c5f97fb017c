package ports

import "context"

// SilenceCounter counts, on each Silence, the incidents it held.
type SilenceCounter interface {
	// AddHeldIncidents adds held to the count of Silence namespace/name (of UID uid, when
	// given: a Silence created again under the same name starts from none). A Silence that is
	// gone is not an error.
	AddHeldIncidents(ctx context.Context, namespace, name, uid string, held int64) error
}
