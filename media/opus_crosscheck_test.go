package media

import (
	"fmt"
	"math"
	"testing"

	pionopus "github.com/pion/opus"
)

// TestPionOpusCrossChecksTheBitstream gives pion/opus its role in Parley: an
// independent, pure-Go decoder that reads every packet Parley's encoder makes,
// at the bitrates, frame sizes and FEC/DTX settings encoder control moves
// between, and must hear what libopus hears. A bitstream only libopus could
// read, or a packetisation slip, fails here. (libopus stays the call path's
// decoder: pion/opus v0.1.0 has no loss concealment and no FEC decoding, and
// is 1.7–2.9× slower; see the README's design notes.)
func TestPionOpusCrossChecksTheBitstream(t *testing.T) {
	speech, err := ReadWAV("perf/speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	speech = append(speech, speech...) // twice: enough 60 ms packets too
	tests := []struct {
		bitrate, frameSamples, lossPercent int
		fec                                bool
	}{
		{12000, 960, 0, false},
		{24000, 960, 10, true},
		{32000, 480, 0, false},
		{64000, 960, 0, false},
		{16000, 1920, 20, true},
		{12000, 2880, 30, true}, // under a tight cap
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%dbps-%dms-fec-%v", tt.bitrate, tt.frameSamples*1000/SampleRate, tt.fec)
		t.Run(name, func(t *testing.T) {
			enc, err := NewEncoder(EncoderConfig{Bitrate: tt.bitrate, FEC: tt.fec, PacketLossPercent: tt.lossPercent, DTX: true})
			if err != nil {
				t.Fatal(err)
			}
			lib, err := NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			independent, err := pionopus.NewDecoderWithOutput(SampleRate, 1)
			if err != nil {
				t.Fatal(err)
			}
			packet := make([]byte, MaxOpusPacket)
			fromLib := make([]int16, tt.frameSamples)
			fromPion := make([]int16, tt.frameSamples)
			var signal, diff float64
			packets := 0
			for off := 0; off+tt.frameSamples <= len(speech); off += tt.frameSamples {
				n, err := enc.Encode(speech[off:off+tt.frameSamples], packet)
				if err != nil {
					t.Fatal(err)
				}
				if n <= 2 {
					continue // DTX: not sent
				}
				packets++
				if _, err := lib.Decode(packet[:n], fromLib); err != nil {
					t.Fatalf("libopus, packet %d: %v", packets, err)
				}
				got, err := independent.DecodeToInt16(packet[:n], fromPion)
				if err != nil {
					t.Fatalf("pion/opus cannot decode packet %d (%d bytes): %v", packets, n, err)
				}
				if got != tt.frameSamples {
					t.Fatalf("pion/opus decoded %d samples from packet %d, want %d", got, packets, tt.frameSamples)
				}
				for i := range fromLib {
					a, b := float64(fromLib[i]), float64(fromPion[i])
					signal += a * a
					diff += (a - b) * (a - b)
				}
			}
			snr := 10 * math.Log10(signal/max(diff, 1))
			t.Logf("%d packets; pion/opus matches libopus at %.1f dB SNR", packets, snr)
			if packets < 50 {
				t.Fatalf("only %d packets encoded", packets)
			}
			// Two correct decoders of one bitstream differ only by float
			// rounding: measured 49–88 dB. A misread packet is near 0 dB.
			if snr < 40 {
				t.Errorf("pion/opus and libopus disagree: %.1f dB SNR, want ≥ 40 dB", snr)
			}
		})
	}
}
