package main

import "testing"

func TestFrameFlag(t *testing.T) {
	tests := []struct {
		in      string
		samples int // 0: rejected
	}{
		{"10ms", 480},
		{"20ms", 960},
		{"40ms", 1920},
		{"60ms", 0},
		{"5ms", 0},
		{"twenty", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var f frameFlag
			err := f.Set(tt.in)
			if (err == nil) != (tt.samples != 0) || f.samples() != tt.samples {
				t.Errorf("Set(%q): %v, %d samples; want %d", tt.in, err, f.samples(), tt.samples)
			}
		})
	}
}
