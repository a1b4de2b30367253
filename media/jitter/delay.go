package jitter

import "time"

// Delay estimation, after WebRTC NetEq's delay manager: every packet's
// transit time (arrival minus its RTP timestamp as time) is compared with
// the fastest transit of the recent packets; that excess delay goes into a
// histogram that slowly forgets, and the target delay is its high quantile.
// Measuring against a sliding minimum, not the first packet, keeps the
// estimate true when the sender's clock drifts or the path gets faster.
const (
	// transitWindow is how many recent packets the fastest transit is taken
	// from: 2 s of 20 ms frames.
	transitWindow = 100
	// bucketWidth is the histogram's resolution.
	bucketWidth = time.Millisecond
	// delayQuantile is the share of packets the target delay should cover
	// (NetEq uses 0.95–0.97).
	delayQuantile = 0.95
	// forgetFactor weighs the histogram's past: each packet's weight is 1/0.996
	// of the one before, so a rise in jitter shows within ~15 packets (5 % of
	// the mass moves up: fast) and its end takes ~700 packets to fade (slow).
	forgetFactor = 0.996
	// renormAbove keeps the growing weights far from float64's range.
	renormAbove = 1e200
)

// delayEstimator turns packet arrivals into a target delay. It does not
// allocate after newDelayEstimator.
type delayEstimator struct {
	clockRate int64
	epoch     time.Time // arrival of the stream's first packet

	// RTP timestamps extended to 64 bits: lastTS is extTS of the newest.
	haveTS bool
	lastTS uint32
	extTS  int64

	transits [transitWindow]time.Duration // ring of recent transit times
	nTransit int                          // how many transits the ring holds (≤ transitWindow)
	next     int                          // the ring slot the next transit goes into
	fastest  time.Duration                // minimum of the ring

	hist     []float64 // weight of excess delays, one bucket per bucketWidth
	total    float64   // sum of hist
	weight   float64   // the next observation's weight
	observed int       // observations so far (the histogram forgets only after 1/(1-forgetFactor))
	top      int       // highest bucket with weight

	target time.Duration // delayQuantile of the histogram, at least minDelay
	min    time.Duration
	max    time.Duration
}

func newDelayEstimator(clockRate int, minDelay, maxDelay time.Duration) *delayEstimator {
	return &delayEstimator{
		clockRate: int64(clockRate),
		hist:      make([]float64, max(1, int(maxDelay/bucketWidth))),
		weight:    1,
		target:    minDelay,
		min:       minDelay,
		max:       maxDelay,
	}
}

// restart forgets the stream's timing (a new SSRC, a sequence restart or a
// timestamp jump) but keeps the histogram: the network path is the same.
func (d *delayEstimator) restart() {
	d.haveTS, d.nTransit, d.next = false, 0, 0
}

// ext returns ts extended to 64 bits near the newest timestamp seen.
func (d *delayEstimator) ext(ts uint32) int64 {
	return d.extTS + int64(int32(ts-d.lastTS))
}

// mediaTime returns the time of timestamp ts since the stream's first.
func (d *delayEstimator) mediaTime(ts uint32) time.Duration {
	return time.Duration(d.ext(ts) * int64(time.Second) / d.clockRate)
}

// observe records the arrival of a packet with timestamp ts and returns its
// excess delay over the fastest recent packet.
func (d *delayEstimator) observe(ts uint32, arrival time.Time) time.Duration {
	if !d.haveTS {
		d.haveTS, d.lastTS, d.extTS, d.epoch = true, ts, 0, arrival
	}
	if e := d.ext(ts); e > d.extTS {
		d.lastTS, d.extTS = ts, e
	}
	transit := arrival.Sub(d.epoch) - d.mediaTime(ts)
	d.transits[d.next] = transit
	d.next = (d.next + 1) % transitWindow
	d.nTransit = min(d.nTransit+1, transitWindow)
	d.fastest = d.transits[0]
	for _, t := range d.transits[1:d.nTransit] {
		d.fastest = min(d.fastest, t)
	}
	excess := transit - d.fastest
	d.add(excess)
	return excess
}

// add puts one excess delay into the histogram and updates the target.
// Instead of multiplying every bucket by forgetFactor, each observation
// weighs 1/forgetFactor more than the last: the same proportions in O(1).
func (d *delayEstimator) add(excess time.Duration) {
	b := min(int(excess/bucketWidth), len(d.hist)-1)
	d.hist[b] += d.weight
	d.total += d.weight
	d.top = max(d.top, b)
	d.observed++
	if float64(d.observed) >= 1/(1-forgetFactor) {
		d.weight /= forgetFactor
	}
	if d.weight > renormAbove {
		for i := range d.hist[:d.top+1] {
			d.hist[i] /= d.weight
		}
		d.total /= d.weight
		d.weight = 1
	}
	// The smallest delay with at most 1-delayQuantile of the weight above it.
	above, limit := 0.0, (1-delayQuantile)*d.total
	q := 0
	for i := d.top; i >= 0; i-- {
		if above+d.hist[i] > limit {
			q = i + 1
			break
		}
		above += d.hist[i]
	}
	d.target = min(max(time.Duration(q)*bucketWidth, d.min), d.max)
}

// playTime returns how long after the epoch timestamp ts is due: when the
// fastest recent packet would have brought it, plus the target delay.
func (d *delayEstimator) playTime(ts uint32) time.Duration {
	return d.mediaTime(ts) + d.fastest + d.target
}
