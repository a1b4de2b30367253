package media

import (
	"math"
	"sync/atomic"
)

// SilenceDBFS is the level reported for digital silence: the floor of the
// RTP audio level extension's scale (RFC 6464 §3: 0 to -127 dBov).
const SilenceDBFS = -127

// levelMeter keeps the energy of a stream of frames as WebRTC's getStats
// does (totalAudioEnergy: Σ level² × frame duration, level the frame's RMS
// over full scale), to give the stream's mean level. One goroutine adds;
// any may read.
type levelMeter struct {
	energy  atomic.Uint64 // float64 bits: Σ level² × samples
	samples atomic.Uint64
}

// add measures one frame.
func (m *levelMeter) add(pcm []int16) {
	var sum float64
	for _, v := range pcm {
		f := float64(v) / 32768
		sum += f * f
	}
	m.energy.Store(math.Float64bits(math.Float64frombits(m.energy.Load()) + sum))
	m.samples.Add(uint64(len(pcm)))
}

// meanDBFS returns the mean level in dBFS (RMS over everything measured),
// SilenceDBFS for silence or nothing.
func (m *levelMeter) meanDBFS() float64 {
	n := m.samples.Load()
	e := math.Float64frombits(m.energy.Load())
	if n == 0 || e == 0 {
		return SilenceDBFS
	}
	return max(SilenceDBFS, 10*math.Log10(e/float64(n)))
}

// FrameDBFS is the RMS level of one frame in dBFS, SilenceDBFS for
// silence: what a level meter shows.
func FrameDBFS(pcm []int16) float64 {
	var m levelMeter
	m.add(pcm)
	return m.meanDBFS()
}
