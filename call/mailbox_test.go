package call

import (
	"slices"
	"testing"
)

func TestMailboxKeepsOrderAndNeverBlocks(t *testing.T) {
	m := newMailbox[int]()
	for i := range 1000 { // far more than any channel buffer the actor had
		m.put(i)
	}
	<-m.ready
	got, closed := m.take()
	if closed || len(got) != 1000 || !slices.IsSorted(got) {
		t.Fatalf("took %d items (sorted %v), closed %v", len(got), slices.IsSorted(got), closed)
	}
	m.put(1)
	m.close()
	m.put(2) // after close: dropped
	<-m.ready
	got, closed = m.take()
	if !closed || !slices.Equal(got, []int{1}) {
		t.Fatalf("after close took %v, closed %v; want [1], true", got, closed)
	}
}
