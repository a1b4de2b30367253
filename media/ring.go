package media

// sampleRing is a bounded FIFO of samples that never grows: pushing past its
// limit drops the oldest samples. It does no locking and no allocation after
// construction, so a real-time callback can use it under its owner's mutex.
type sampleRing struct {
	buf   []int16
	head  int // index of the oldest sample
	n     int // samples held
	limit int // most samples kept, at most len(buf)
}

func newSampleRing(capacity, limit int) sampleRing {
	return sampleRing{buf: make([]int16, capacity), limit: min(limit, capacity)}
}

// push appends p and returns how many samples it dropped, oldest first, to
// stay within the limit.
func (r *sampleRing) push(p []int16) (dropped int) {
	if len(p) > r.limit {
		dropped = len(p) - r.limit
		p = p[dropped:]
	}
	if over := r.n + len(p) - r.limit; over > 0 {
		r.discard(over)
		dropped += over
	}
	tail := (r.head + r.n) % len(r.buf)
	copied := copy(r.buf[tail:], p)
	copy(r.buf, p[copied:])
	r.n += len(p)
	return dropped
}

// pop moves the oldest min(len(p), r.n) samples into p and returns how many.
func (r *sampleRing) pop(p []int16) int {
	m := min(len(p), r.n)
	copied := copy(p[:m], r.buf[r.head:])
	copy(p[copied:m], r.buf)
	r.discard(m)
	return m
}

// discard drops the oldest k samples (k <= r.n).
func (r *sampleRing) discard(k int) {
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
}

// setLimit changes the limit (clamped to the capacity) and returns how many
// of the oldest samples it dropped to meet it.
func (r *sampleRing) setLimit(limit int) (dropped int) {
	r.limit = min(limit, len(r.buf))
	if over := r.n - r.limit; over > 0 {
		r.discard(over)
		return over
	}
	return 0
}
