package ui

import (
	"math"
	"testing"

	"github.com/parley-voip/parley/media"
)

func TestRecentLevel(t *testing.T) {
	// Mean of a second at -10 dBFS and a second at x: energy adds.
	meanOf := func(a, b float64) float64 {
		return 10 * math.Log10((math.Pow(10, a/10)+math.Pow(10, b/10))/2)
	}
	tests := []struct {
		name                 string
		mean0, n0, mean1, n1 float64
		want                 float64
	}{
		{"steady", -10, 48000, -10, 96000, -10},
		{"louder", -10, 48000, meanOf(-10, -3), 96000, -3},
		{"quieter", -10, 48000, meanOf(-10, -40), 96000, -40},
		{"went-silent", -10, 48000, meanOf(-10, media.SilenceDBFS), 96000, media.SilenceDBFS},
		{"from-silence", media.SilenceDBFS, 48000, meanOf(media.SilenceDBFS, -20), 96000, -20},
		{"no-new-samples", -10, 48000, -12, 48000, -12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recentLevel(tt.mean0, tt.n0, tt.mean1, tt.n1); math.Abs(got-tt.want) > 0.5 {
				t.Errorf("recentLevel = %.2f, want %.2f", got, tt.want)
			}
		})
	}
}
