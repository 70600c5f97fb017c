package delivery

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/khook-dev/khook/domain/hook"
)

func queued(ref string, n int) *entry { return queuedIn("apps", ref, n) }

func queuedIn(ns, ref string, n int) *entry {
	return &entry{rec: Record{Firing: Firing{Hook: hook.Ref{Namespace: ns, Name: ref}}, MessageID: fmt.Sprintf("%s-%d", ref, n)}}
}

func TestTheFairQueueLetsNamespacesThenHooksTakeTurns(t *testing.T) {
	tests := []struct {
		name string
		run  func(q *fairQueue)
		want []string // the records popped, in order
	}{
		{"one hook's records come out oldest first", func(q *fairQueue) {
			q.push(queued("a", 1))
			q.push(queued("a", 2))
		}, []string{"a-1", "a-2"}},
		{"a storm on one hook does not keep another waiting behind it", func(q *fairQueue) {
			for i := 1; i <= 3; i++ {
				q.push(queued("a-storm", i))
			}
			q.push(queued("b-calm", 1))
		}, []string{"a-storm-1", "b-calm-1", "a-storm-2", "a-storm-3"}},
		{"hooks alternate once both have been served", func(q *fairQueue) {
			q.push(queued("a", 1))
			q.push(queued("b", 1))
			q.push(queued("a", 2))
			q.push(queued("b", 2))
		}, []string{"a-1", "b-1", "a-2", "b-2"}},
		{"a hook that starts waiting joins at the back of the round", func(q *fairQueue) {
			q.push(queued("a", 1))
			q.push(queued("a", 2))
			q.push(queued("b", 1))
			q.pop() // a-1
			q.push(queued("new", 1))
		}, []string{"b-1", "a-2", "new-1"}},
		{"a tenant's many hooks share one turn of their namespace", func(q *fairQueue) {
			for i := range 5 {
				q.push(queuedIn("team-a", fmt.Sprintf("a%d", i), 1))
			}
			q.push(queuedIn("team-b", "b", 1))
			q.push(queuedIn("team-b", "b", 2))
		}, []string{"a0-1", "b-1", "a1-1", "b-2", "a2-1", "a3-1", "a4-1"}},
		{"a hook created in a busy namespace does not jump ahead of another namespace", func(q *fairQueue) {
			q.push(queuedIn("team-a", "a", 1))
			q.push(queuedIn("team-a", "a", 2))
			q.push(queuedIn("team-b", "b", 1))
			q.pop() // a-1
			q.push(queuedIn("team-a", "fresh", 1))
		}, []string{"b-1", "a-2", "fresh-1"}},
		{"a removed record is not popped and an emptied hook leaves the queue", func(q *fairQueue) {
			gone := queued("a", 1)
			q.push(gone)
			q.push(queued("b", 1))
			q.push(queued("b", 2))
			q.remove(gone)
		}, []string{"b-1", "b-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q fairQueue
			tt.run(&q)
			var got []string
			for q.len() > 0 {
				got = append(got, q.pop().rec.MessageID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("popped %v, want %v", got, tt.want)
			}
			if q.pop() != nil || q.spaces.Len() != 0 || len(q.byspace) != 0 {
				t.Fatalf("an empty queue still holds %d namespaces", q.spaces.Len())
			}
		})
	}
}
