package perf

import (
	"math"
	"testing"
)

func TestTheilSen(t *testing.T) {
	line := func(n int, slope float64) (x, y []float64) {
		for i := range n {
			x, y = append(x, float64(i)), append(y, 5+slope*float64(i))
		}
		return x, y
	}
	x, y := line(1000, 2)
	steps, _ := line(100, 0)
	for i := range steps {
		steps[i] = float64(i / 10) // a staircase: rises 1 every 10
	}
	xs, _ := line(100, 0)
	outliers := append([]float64(nil), y[:100]...)
	outliers[10], outliers[50] = 1e9, -1e9
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"a-line-of-many-points", x, y, 2},
		{"a-staircase", xs, steps, 0.1},
		{"outliers-change-nothing", xs, outliers, 2},
		{"flat", xs, make([]float64, 100), 0},
		{"no-points", nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := theilSen(tt.x, tt.y); math.Abs(got-tt.want) > 0.02 {
				t.Errorf("theilSen = %v, want %v", got, tt.want)
			}
		})
	}
}
