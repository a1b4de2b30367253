package media

import "testing"

func TestPacketSamples(t *testing.T) {
	tests := []struct {
		name   string
		packet []byte
		want   int // 0: an error
	}{
		{"silk-10ms", []byte{0 << 3}, 480},
		{"silk-20ms", []byte{1 << 3}, 960},
		{"silk-40ms", []byte{2 << 3}, 1920},
		{"silk-60ms", []byte{3 << 3}, 2880},
		{"hybrid-20ms", []byte{13 << 3}, 960},
		{"celt-2.5ms", []byte{16 << 3}, 120},
		{"celt-20ms", []byte{31 << 3}, 960},
		{"two-frames-code-1", []byte{1<<3 | 1}, 1920},
		{"two-frames-code-2", []byte{1<<3 | 2}, 1920},
		{"code-3-three-frames", []byte{1<<3 | 3, 3}, 2880},
		{"code-3-over-120ms", []byte{3<<3 | 3, 3}, 0},
		{"code-3-zero-frames", []byte{1<<3 | 3, 0}, 0},
		{"code-3-no-count", []byte{1<<3 | 3}, 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := packetSamples(tt.packet)
			if (err != nil) != (tt.want == 0) || got != tt.want {
				t.Errorf("packetSamples(%x) = %d, %v; want %d", tt.packet, got, err, tt.want)
			}
		})
	}
}

// TestPacketSamplesOfEncoder checks the parser against what libopus makes
// at each frame size Parley offers.
func TestPacketSamplesOfEncoder(t *testing.T) {
	for _, samples := range []int{480, 960, 1920} {
		enc, err := NewEncoder(EncoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, samples)
		for i := range pcm {
			pcm[i] = int16(i * 37 % 2000)
		}
		out := make([]byte, MaxOpusPacket)
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := packetSamples(out[:n]); err != nil || got != samples {
			t.Errorf("%d-sample frame: packetSamples = %d, %v", samples, got, err)
		}
	}
}

func FuzzPacketSamples(f *testing.F) {
	f.Add([]byte{1 << 3})
	f.Add([]byte{1<<3 | 3, 3})
	f.Fuzz(func(t *testing.T, packet []byte) {
		n, err := packetSamples(packet)
		if err == nil && (n < 120 || n > MaxPacketSamples || n%120 != 0) {
			t.Fatalf("packetSamples(%x) = %d", packet, n)
		}
	})
}
