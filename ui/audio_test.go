package ui

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/parley-voip/parley/media"
)

func TestMicLevel(t *testing.T) {
	tests := []struct {
		name string
		mic  string
		want float64
	}{
		// A sine at half of full scale: RMS 0.354, -9.0 dBFS.
		{"tone", "tone:440", -9.03},
		{"silence", "silence", media.SilenceDBFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got, err := MicLevel(context.Background(), tt.mic)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 0.1 {
				t.Errorf("MicLevel(%s) = %.2f dBFS, want %.2f", tt.mic, got, tt.want)
			}
			// Paced in real time: 75 frames of 20 ms.
			if d := time.Since(start); d < 1400*time.Millisecond {
				t.Errorf("the check took %v, want about 1.5 s of listening", d)
			}
		})
	}
}

func TestPlayTestTone(t *testing.T) {
	t.Parallel()
	if err := PlayTestTone(context.Background(), "null"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := PlayTestTone(ctx, "null"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled test tone returned %v, want context.Canceled", err)
	}
	if err := PlayTestTone(context.Background(), "nowhere"); err == nil {
		t.Error("a speaker spec that is no speaker played")
	}
}
