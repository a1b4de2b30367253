package media

import (
	"fmt"
	"math"
	"testing"
)

// speech returns the test speech clip (espeak-ng, 2.8 s) at 48 kHz, padded
// to whole frames.
func speech(t testing.TB) []int16 {
	t.Helper()
	pcm, err := ReadWAV("perf/speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	return append(pcm, make([]int16, FrameSamples-len(pcm)%FrameSamples)...)
}

// encodeAll encodes pcm frame by frame and returns the packets.
func encodeAll(t testing.TB, cfg EncoderConfig, pcm []int16) [][]byte {
	t.Helper()
	enc, err := NewEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var packets [][]byte
	buf := make([]byte, MaxOpusPacket)
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		n, err := enc.Encode(pcm[i:i+FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, append([]byte(nil), buf[:n]...))
	}
	return packets
}

// decodeAll decodes packets in order, concealing nil ones.
func decodeAll(t testing.TB, packets [][]byte) []int16 {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	frame := make([]int16, MaxPacketSamples)
	for _, p := range packets {
		if p == nil {
			if err := dec.Conceal(frame[:FrameSamples]); err != nil {
				t.Fatal(err)
			}
			out = append(out, frame[:FrameSamples]...)
			continue
		}
		n, err := dec.Decode(p, frame)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame[:n]...)
	}
	return out
}

// opusDelay is libopus's algorithmic delay at 48 kHz: 2.5 ms of look-ahead
// plus 4 ms in SILK's resampler (RFC 6716 §2.1, §4.2.7).
const opusDelay = 312

// snr is the ratio of want's power to that of got's difference from it, in dB.
func snr(want, got []float64) float64 {
	var signal, noise float64
	for i := range want {
		d := got[i] - want[i]
		signal += want[i] * want[i]
		noise += d * d
	}
	return 10 * math.Log10(signal/noise)
}

func TestCodecKeepsAudio(t *testing.T) {
	tests := []struct {
		name    string
		pcm     []int16
		cfg     EncoderConfig
		minSNR  float64 // dB after aligning for the codec delay
		minCorr float64
	}{
		// Measured with libopus 1.3.1: 23, 11, 7.5 and 10 dB; 0.998, 0.96, 0.91 and 0.95.
		{"tone-default-config", toInt16(sine(SampleRate, 440, SampleRate, 0.5)), EncoderConfig{}, 15, 0.99},
		{"speech-default-config", speech(t), EncoderConfig{}, 7, 0.93},
		{"speech-low-bitrate-complexity-1", speech(t), EncoderConfig{Bitrate: 12000, Complexity: 1}, 4, 0.85},
		{"speech-fec-dtx", speech(t), EncoderConfig{FEC: true, PacketLossPercent: 10, DTX: true}, 6, 0.92},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packets := encodeAll(t, tt.cfg, tt.pcm)
			got := toFloat64(decodeAll(t, packets))
			want := toFloat64(tt.pcm)
			// Search for the delay within ±50 samples of libopus's: a tone
			// repeats every few ms, so a wider search could match a period late.
			lag := bestLag(want, got, opusDelay-50, opusDelay+50)
			n := len(want) - lag - FrameSamples
			ratio := snr(want[FrameSamples:n], got[FrameSamples+lag:n+lag])
			corr := correlation(want[:len(want)-lag], got[lag:])
			t.Logf("codec delay %d samples, SNR %.1f dB, correlation %.3f", lag, ratio, corr)
			within(t, "SNR dB", ratio, tt.minSNR, math.Inf(1))
			within(t, "correlation", corr, tt.minCorr, 1)
		})
	}
}

// TestConceal loses one frame of a steady tone: concealment must continue
// the tone, where silence would leave a hole.
func TestConceal(t *testing.T) {
	pcm := toInt16(sine(SampleRate, 440, SampleRate, 0.5))
	packets := encodeAll(t, EncoderConfig{}, pcm)
	const lost = 25
	clean := toFloat64(decodeAll(t, packets))
	packets[lost] = nil
	concealed := toFloat64(decodeAll(t, packets))
	frame := func(x []float64) []float64 { return x[lost*FrameSamples : (lost+1)*FrameSamples] }
	corr := correlation(frame(clean), frame(concealed))
	level := rms(frame(concealed)) / rms(frame(clean))
	t.Logf("concealed frame: correlation %.3f with the clean decode, level %.2f", corr, level)
	within(t, "correlation", corr, 0.9, 1)
	within(t, "level", level, 0.5, 1.5)
}

// TestDecodeFEC loses frames of speech and recovers each from the next
// packet's FEC: the recovered frame must resemble the clean decode, and more
// closely than concealment manages.
func TestDecodeFEC(t *testing.T) {
	pcm := speech(t)
	for _, tt := range []struct {
		name    string
		cfg     EncoderConfig
		wantFEC bool
	}{
		{"fec-with-expected-loss", EncoderConfig{FEC: true, PacketLossPercent: 20}, true},
		// libopus emits no FEC while it expects no loss: then DecodeFEC can
		// only conceal, which shows the test tells the two apart.
		{"fec-without-expected-loss", EncoderConfig{FEC: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			packets := encodeAll(t, tt.cfg, pcm)
			clean := toFloat64(decodeAll(t, packets))
			var fecSNR, plcSNR float64
			var n int
			for lost := 10; lost+1 < len(packets); lost += 10 {
				want := clean[lost*FrameSamples : (lost+1)*FrameSamples]
				if rms(want) < 0.01 {
					continue // a pause in the speech: nothing to recover
				}
				fec, plc := recoverFrame(t, packets, lost)
				fecSNR += snr(want, fec)
				plcSNR += snr(want, plc)
				n++
			}
			fecSNR, plcSNR = fecSNR/float64(n), plcSNR/float64(n)
			t.Logf("%d lost frames: mean SNR against the clean decode %.1f dB recovered by FEC, %.1f dB concealed", n, fecSNR, plcSNR)
			if n < 5 {
				t.Fatalf("only %d voiced frames tested", n)
			}
			if tt.wantFEC {
				// Measured: 15 dB recovered, 3 dB concealed.
				within(t, "FEC SNR dB", fecSNR, 8, math.Inf(1))
				within(t, "FEC advantage over concealment dB", fecSNR-plcSNR, 5, math.Inf(1))
			} else {
				within(t, "FEC advantage over concealment dB", fecSNR-plcSNR, -0.01, 0.01)
			}
		})
	}
}

// recoverFrame decodes packets up to lost, loses packet lost, and returns the
// frame as recovered from the next packet's FEC and as concealed.
func recoverFrame(t *testing.T, packets [][]byte, lost int) (fec, plc []float64) {
	t.Helper()
	decode := func(recover func(*Decoder, []int16) error) []float64 {
		dec, err := NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		frame := make([]int16, FrameSamples)
		for _, p := range packets[:lost] {
			if _, err := dec.Decode(p, frame); err != nil {
				t.Fatal(err)
			}
		}
		if err := recover(dec, frame); err != nil {
			t.Fatal(err)
		}
		return toFloat64(frame)
	}
	fec = decode(func(d *Decoder, pcm []int16) error { return d.DecodeFEC(packets[lost+1], pcm) })
	plc = decode(func(d *Decoder, pcm []int16) error { return d.Conceal(pcm) })
	return fec, plc
}

func TestDTXSendsTinyPacketsInSilence(t *testing.T) {
	packets := encodeAll(t, EncoderConfig{DTX: true}, make([]int16, SampleRate))
	tiny := 0
	for _, p := range packets {
		if len(p) <= 2 {
			tiny++
		}
	}
	// libopus needs a few frames to be sure the input is silent.
	within(t, "packets of at most 2 bytes in 50 frames of silence", tiny, 30, 50)
}

func TestEncoderConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  EncoderConfig
		ok   bool
	}{
		{"zero-value-is-default", EncoderConfig{}, true},
		{"lowest", EncoderConfig{Bitrate: 6000, Complexity: 1}, true},
		{"highest", EncoderConfig{Bitrate: 510000, Complexity: 10, FEC: true, PacketLossPercent: 100, DTX: true}, true},
		{"bitrate-too-low", EncoderConfig{Bitrate: 5999}, false},
		{"bitrate-too-high", EncoderConfig{Bitrate: 510001}, false},
		{"negative-complexity", EncoderConfig{Complexity: -1}, false},
		{"complexity-too-high", EncoderConfig{Complexity: 11}, false},
		{"negative-loss", EncoderConfig{PacketLossPercent: -1}, false},
		{"loss-too-high", EncoderConfig{PacketLossPercent: 101}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEncoder(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("NewEncoder(%+v) error = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
	enc, err := NewEncoder(EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	bitrate, _ := enc.enc.Bitrate()
	complexity, _ := enc.enc.Complexity()
	if bitrate != defaultBitrate || complexity != defaultComplexity {
		t.Errorf("default encoder: %d bit/s, complexity %d; want %d, %d", bitrate, complexity, defaultBitrate, defaultComplexity)
	}
}

func TestEncoderSetters(t *testing.T) {
	enc, err := NewEncoder(EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetBitrate(16000); err != nil {
		t.Error(err)
	}
	if err := enc.SetPacketLossPercent(15); err != nil {
		t.Error(err)
	}
	if err := enc.SetFEC(true); err != nil {
		t.Error(err)
	}
	bitrate, _ := enc.enc.Bitrate()
	loss, _ := enc.enc.PacketLossPerc()
	fec, _ := enc.enc.InBandFEC()
	if bitrate != 16000 || loss != 15 || !fec {
		t.Errorf("after setting: %d bit/s, %d%% loss, FEC %v; want 16000, 15, true", bitrate, loss, fec)
	}
	for name, err := range map[string]error{
		"bitrate-too-low": enc.SetBitrate(100),
		"loss-too-high":   enc.SetPacketLossPercent(200),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCodecRejectsBadSizes(t *testing.T) {
	enc, err := NewEncoder(EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, MaxOpusPacket)
	for _, n := range []int{0, 100, 959, 1440, 3840} {
		if _, err := enc.Encode(make([]int16, n), out); err == nil {
			t.Errorf("Encode of %d samples succeeded", n)
		}
	}
	for _, n := range []int{120, 240, 480, 960, 1920, 2880} {
		if _, err := enc.Encode(make([]int16, n), out); err != nil {
			t.Errorf("Encode of %d samples: %v", n, err)
		}
	}
	for _, n := range []int{0, 100, MaxPacketSamples + 120} {
		if err := dec.Conceal(make([]int16, n)); err == nil {
			t.Errorf("Conceal of %d samples succeeded", n)
		}
	}
	if _, err := dec.Decode(nil, make([]int16, FrameSamples)); err == nil {
		t.Error("Decode of an empty packet succeeded")
	}
	if err := dec.DecodeFEC(nil, make([]int16, FrameSamples)); err == nil {
		t.Error("DecodeFEC of an empty packet succeeded")
	}
	n, err := enc.Encode(make([]int16, FrameSamples), out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Decode(out[:n], make([]int16, FrameSamples/2)); err == nil {
		t.Error("Decode of a 20 ms packet into 10 ms succeeded")
	}
	if _, err := dec.Decode([]byte{0xFF, 0xFF, 0xFF}, make([]int16, MaxPacketSamples)); err == nil {
		t.Error("Decode of garbage succeeded")
	}
}

func TestCodecAllocatesNothing(t *testing.T) {
	pcm := speech(t)[:FrameSamples]
	enc, err := NewEncoder(EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	packet := make([]byte, MaxOpusPacket)
	out := make([]int16, FrameSamples)
	allocs := testing.AllocsPerRun(50, func() {
		n, _ := enc.Encode(pcm, packet)
		_, _ = dec.Decode(packet[:n], out)
		_ = dec.Conceal(out)
	})
	if allocs != 0 {
		t.Errorf("encode, decode and conceal allocate %v times per frame", allocs)
	}
}

func BenchmarkEncode(b *testing.B) {
	pcm := speech(b)
	for _, complexity := range []int{5, 9, 10} {
		b.Run(fmt.Sprintf("complexity-%d", complexity), func(b *testing.B) {
			enc, err := NewEncoder(EncoderConfig{Complexity: complexity, FEC: true, PacketLossPercent: 10})
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, MaxOpusPacket)
			i := 0
			for b.Loop() {
				if _, err := enc.Encode(pcm[i:i+FrameSamples], out); err != nil {
					b.Fatal(err)
				}
				i = (i + FrameSamples) % len(pcm)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	packets := encodeAll(b, EncoderConfig{}, speech(b))
	dec, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	out := make([]int16, FrameSamples)
	i := 0
	for b.Loop() {
		if _, err := dec.Decode(packets[i], out); err != nil {
			b.Fatal(err)
		}
		i = (i + 1) % len(packets)
	}
}
