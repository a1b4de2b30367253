package media

import (
	"slices"
	"testing"
)

func TestCrossfade(t *testing.T) {
	tests := []struct {
		name string
		a, b []int16
		want []int16
	}{
		{"equal-frames-unchanged", []int16{7, 7, 7, 7}, []int16{7, 7, 7, 7}, []int16{7, 7, 7, 7}},
		{"starts-at-a-ends-near-b", []int16{0, 0, 0, 0}, []int16{400, 400, 400, 400}, []int16{0, 100, 200, 300}},
		{"full-scale-does-not-overflow", []int16{32767, 32767}, []int16{-32768, -32768}, []int16{32767, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := slices.Clone(tt.a)
			crossfade(a, tt.b)
			if !slices.Equal(a, tt.want) {
				t.Errorf("crossfade(%v, %v) = %v, want %v", tt.a, tt.b, a, tt.want)
			}
		})
	}
}
