package investigation

import (
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/incident"
)

// Done is a finished investigation: its name and when it ended.
type Done struct {
	Name    string
	EndedAt time.Time
}

// EndedAt is when a finished investigation ended: its trouble's end, or its last agent's, the
// later.
func EndedAt(inc incident.Incident, records []delivery.Record) time.Time {
	end := inc.ResolvedAt
	for _, r := range records {
		if r.UpdatedAt.After(end) {
			end = r.UpdatedAt
		}
	}
	return end
}

// Expired returns the names of the finished investigations retention removes: those that ended
// retention or longer before now, and those beyond the newest keep (by end, then name).
func Expired(done []Done, now time.Time, retention time.Duration, keep int) []string {
	sorted := append([]Done(nil), done...)
	sort.Slice(sorted, func(i, j int) bool {
		if !sorted[i].EndedAt.Equal(sorted[j].EndedAt) {
			return sorted[i].EndedAt.After(sorted[j].EndedAt)
		}
		return sorted[i].Name < sorted[j].Name
	})
	var out []string
	for i, d := range sorted {
		if i >= keep || now.Sub(d.EndedAt) >= retention {
			out = append(out, d.Name)
		}
	}
	return out
}
