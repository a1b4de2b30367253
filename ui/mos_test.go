package ui

import (
	"math"
	"testing"
	"time"
)

func TestMOS(t *testing.T) {
	tests := []struct {
		name    string
		delay   time.Duration
		lossPct float64
		want    float64
	}{
		// R 93.2, the E-model's best for narrowband defaults.
		{"clean-loopback", 0, 0, 4.41},
		{"delay-up-to-100ms-costs-nothing", 100 * time.Millisecond, 0, 4.41},
		// Idd(200 ms) = 3.04 → R 90.2.
		{"200ms-one-way", 200 * time.Millisecond, 0, 4.34},
		// Idd(400 ms) = 24.1 → R 69.1.
		{"400ms-one-way", 400 * time.Millisecond, 0, 3.56},
		// Ie,eff = 95·5/(5+25.1) = 15.8 → R 77.4.
		{"5-percent-loss", 0, 5, 3.92},
		// Ie,eff = 95·100/125.1 = 75.9 → R 17.3.
		{"total-loss", 0, 100, 1.18},
		{"negative-loss-is-none", 0, -3, 4.41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MOS(tt.delay, tt.lossPct); math.Abs(got-tt.want) > 0.01 {
				t.Errorf("MOS(%v, %v %%) = %.3f, want %.2f", tt.delay, tt.lossPct, got, tt.want)
			}
		})
	}
}

func TestMOSFallsWithDelayAndLoss(t *testing.T) {
	prev := MOS(0, 0)
	for ms := 50; ms <= 800; ms += 50 {
		got := MOS(time.Duration(ms)*time.Millisecond, 1)
		if got > prev {
			t.Fatalf("MOS rose from %.3f to %.3f as delay grew to %d ms", prev, got, ms)
		}
		prev = got
	}
	prev = MOS(150*time.Millisecond, 0)
	for loss := 0.5; loss <= 50; loss += 0.5 {
		got := MOS(150*time.Millisecond, loss)
		if got >= prev {
			t.Fatalf("MOS did not fall from %.3f as loss grew to %.1f %%: %.3f", prev, loss, got)
		}
		prev = got
	}
}
