package a2a

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/khook-dev/khook/ports"
)

func TestTheSummaryIsTheStatusMessageElseTheLastArtifactCutToItsLimit(t *testing.T) {
	artifact := func(text string) *a2a.Artifact { return &a2a.Artifact{Parts: a2a.ContentParts{a2a.NewTextPart(text)}} }
	long := strings.Repeat("é", ports.MaxSummaryLength+10)
	tests := []struct {
		name string
		task *a2a.Task
		want string
	}{
		{"the status message wins", &a2a.Task{Status: a2a.TaskStatus{Message: a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart("root cause: OOM"))},
			Artifacts: []*a2a.Artifact{artifact("report")}}, "root cause: OOM"},
		{"without one, the last artifact speaks", &a2a.Task{Artifacts: []*a2a.Artifact{artifact("draft"), artifact("final report")}}, "final report"},
		{"nothing to say is an empty summary", &a2a.Task{}, ""},
		{"a long text is cut to the limit in characters", &a2a.Task{Artifacts: []*a2a.Artifact{artifact(long)}}, long[:2*ports.MaxSummaryLength]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summaryOf(tt.task)
			if got != tt.want || utf8.RuneCountInString(got) > ports.MaxSummaryLength {
				t.Fatalf("summaryOf = %q (%d characters), want %q", got, utf8.RuneCountInString(got), tt.want)
			}
		})
	}
}
