package call

import "sync"

// mailbox is an unbounded FIFO whose put never blocks. The actor takes
// pion's events through one, so that a callback running on pion's own
// goroutines can never wait on the actor while the actor waits on pion; and
// it queues its outgoing signals in another, so that it never waits on the
// directory. What goes in is bounded by the call itself (a few state changes,
// a few dozen candidates).
type mailbox[T any] struct {
	ready chan struct{} // holds a token while items are waiting

	// mu guards the following fields.
	mu     sync.Mutex
	items  []T
	closed bool
}

func newMailbox[T any]() *mailbox[T] {
	return &mailbox[T]{ready: make(chan struct{}, 1)}
}

// put appends v, unless the mailbox is closed.
func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	if !m.closed {
		m.items = append(m.items, v)
	}
	m.mu.Unlock()
	m.notify()
}

// close stops further puts; what is already in stays to be taken.
func (m *mailbox[T]) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.notify()
}

func (m *mailbox[T]) notify() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// take returns everything waiting, in order, and whether the mailbox is
// closed. Wait on ready before calling it again.
func (m *mailbox[T]) take() (items []T, closed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	items, m.items = m.items, nil
	return items, m.closed
}
