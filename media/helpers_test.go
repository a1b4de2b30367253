package media

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// sine returns n samples of a sine of hz Hz at rate Hz with peak amp (full
// scale 1).
func sine(n int, hz float64, rate int, amp float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))
	}
	return x
}

func toFloat64(pcm []int16) []float64 {
	x := make([]float64, len(pcm))
	for i, v := range pcm {
		x[i] = float64(v) / (1 << 15)
	}
	return x
}

func toInt16(x []float64) []int16 {
	pcm := make([]int16, len(x))
	for i, v := range x {
		pcm[i] = floatToInt16(float32(v))
	}
	return pcm
}

// wavSpec describes a WAV file for buildWAV.
type wavSpec struct {
	code       uint16 // waveFormatPCM or waveFormatFloat
	bits       int
	rate       int
	extensible bool
}

// buildWAV encodes channels (each a slice of samples in [-1, 1], all the same
// length) as the bytes of a WAV file, independently of the package's reader.
func buildWAV(s wavSpec, channels ...[]float64) []byte {
	le := binary.LittleEndian
	width := s.bits / 8
	var data []byte
	for i := range channels[0] {
		for _, ch := range channels {
			x := ch[i]
			switch {
			case s.code == waveFormatFloat && s.bits == 32:
				data = le.AppendUint32(data, math.Float32bits(float32(x)))
			case s.code == waveFormatFloat:
				data = le.AppendUint64(data, math.Float64bits(x))
			case s.bits == 8:
				data = append(data, byte(max(0, min(255, math.Round(x*128)+128))))
			default:
				full := math.Pow(2, float64(s.bits-1))
				v := int64(max(-full, min(full-1, math.Round(x*full))))
				for b := range width {
					data = append(data, byte(v>>(8*b)))
				}
			}
		}
	}
	code := s.code
	fmtChunk := le.AppendUint16(nil, code)
	if s.extensible {
		fmtChunk = le.AppendUint16(nil, waveFormatExtensible)
	}
	fmtChunk = le.AppendUint16(fmtChunk, uint16(len(channels)))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(s.rate))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(s.rate*width*len(channels)))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(width*len(channels)))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(s.bits))
	if s.extensible {
		fmtChunk = le.AppendUint16(fmtChunk, 22)
		fmtChunk = le.AppendUint16(fmtChunk, uint16(s.bits))
		fmtChunk = le.AppendUint32(fmtChunk, 0) // channel mask
		fmtChunk = le.AppendUint16(fmtChunk, code)
		fmtChunk = append(fmtChunk, extensibleGUIDTail...)
	}
	return riff(chunk("fmt ", fmtChunk), chunk("data", data))
}

// chunk encodes one RIFF chunk, padded to an even length.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// riff wraps chunks in a RIFF WAVE header.
func riff(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WAVE"...), body...)
}

// zeroCrossingFrequency estimates the frequency of a tone from its
// upward zero crossings, interpolated to fractions of a sample.
func zeroCrossingFrequency(x []float64, rate int) float64 {
	first, last, count := -1.0, -1.0, 0
	for i := 1; i < len(x); i++ {
		if x[i-1] < 0 && x[i] >= 0 {
			at := float64(i-1) + x[i-1]/(x[i-1]-x[i])
			if first < 0 {
				first = at
			} else {
				count++
			}
			last = at
		}
	}
	if count == 0 {
		return 0
	}
	return float64(count) * float64(rate) / (last - first)
}

// sineSNR fits a sine of hz Hz (any amplitude and phase, plus DC) to x by
// least squares and returns the ratio of the fit's power to the residual's,
// in dB: how cleanly x is that sine.
func sineSNR(x []float64, hz float64, rate int) float64 {
	// Solve the 3x3 normal equations for x ≈ a*sin + b*cos + c.
	var m [3][4]float64
	basis := func(i int) [3]float64 {
		w := 2 * math.Pi * hz * float64(i) / float64(rate)
		return [3]float64{math.Sin(w), math.Cos(w), 1}
	}
	for i, v := range x {
		f := basis(i)
		for r := range 3 {
			for c := range 3 {
				m[r][c] += f[r] * f[c]
			}
			m[r][3] += f[r] * v
		}
	}
	for p := range 3 { // Gauss-Jordan elimination
		for r := range 3 {
			if r != p {
				k := m[r][p] / m[p][p]
				for c := range 4 {
					m[r][c] -= k * m[p][c]
				}
			}
		}
	}
	coef := [3]float64{m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]}
	var signal, noise float64
	for i, v := range x {
		f := basis(i)
		fit := coef[0]*f[0] + coef[1]*f[1]
		signal += fit * fit
		r := v - fit - coef[2]
		noise += r * r
	}
	return 10 * math.Log10(signal/noise)
}

// rms is the root mean square of x.
func rms(x []float64) float64 {
	var sum float64
	for _, v := range x {
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(x)))
}

// correlation is the normalised correlation of a and b (equal lengths):
// 1 for identical shapes, 0 for unrelated signals.
func correlation(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// bestLag returns the delay of got relative to want, minLag..maxLag
// samples, that correlates them best.
func bestLag(want, got []float64, minLag, maxLag int) int {
	best, bestCorr := 0, math.Inf(-1)
	n := len(want) - maxLag
	for lag := minLag; lag <= maxLag; lag++ {
		if c := correlation(want[:n], got[lag:lag+n]); c > bestCorr {
			best, bestCorr = lag, c
		}
	}
	return best
}

// fakeClock is a clock whose Sleep advances time at once; late is added
// to Now to simulate a caller that took a while.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, done <-chan struct{}, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// within fails t unless got is within [lo, hi].
func within[T int | int64 | uint64 | float64 | time.Duration](t *testing.T, what string, got, lo, hi T) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %v, want %v..%v", what, got, lo, hi)
	}
}
