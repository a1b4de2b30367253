package media

import (
	"math"
	"testing"
)

func TestLevelMeter(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]int16
		want   float64
	}{
		{"nothing", nil, SilenceDBFS},
		{"silence", [][]int16{make([]int16, 960)}, SilenceDBFS},
		{"full-scale-square", [][]int16{square(960, 32767)}, 0},
		{"half-scale-square", [][]int16{square(960, 16384)}, -6.02},
		{"half-the-time-full-scale", [][]int16{square(960, 32767), make([]int16, 960)}, -3.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m levelMeter
			for _, f := range tt.frames {
				m.add(f)
			}
			if got := m.meanDBFS(); math.Abs(got-tt.want) > 0.01 {
				t.Errorf("meanDBFS = %.2f, want %.2f", got, tt.want)
			}
		})
	}
}

func square(n int, amp int16) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = amp
		if i%2 == 1 {
			out[i] = -amp
		}
	}
	return out
}
