package a2a

import (
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
)

func TestResponseOf(t *testing.T) {
	task := func(state a2a.TaskState) *a2a.Task {
		return &a2a.Task{ID: "t1", Status: a2a.TaskStatus{State: state, Message: a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart("why"))}}
	}
	tests := []struct {
		name        string
		result      a2a.SendMessageResult
		wantSuccess bool
		wantID      string
	}{
		{"a completed task is a success with the task id", task(a2a.TaskStateCompleted), true, "t1"},
		{"a task still working is a success: the agent took the job", task(a2a.TaskStateWorking), true, "t1"},
		{"a failed task is a failure even without an error", task(a2a.TaskStateFailed), false, "t1"},
		{"a rejected task is a failure", task(a2a.TaskStateRejected), false, "t1"},
		{"a direct message is a success", &a2a.Message{ID: "m1"}, true, "m1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := responseOf(tt.result)
			if got.Success != tt.wantSuccess || got.RequestID != tt.wantID {
				t.Fatalf("responseOf = %+v", got)
			}
		})
	}
}
