package media

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	pcm := []int16{0, 1, -1, math.MaxInt16, math.MinInt16, 12345, -12345}
	path := filepath.Join(t.TempDir(), "x.wav")
	if err := WriteWAV(path, pcm, SampleRate); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got, pcm) {
		t.Errorf("ReadWAV = %v, want %v", got, pcm)
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDecodeWAVFormats decodes each sample encoding at 48 kHz, where no
// resampling blurs the comparison.
func TestDecodeWAVFormats(t *testing.T) {
	left := sine(480, 1000, SampleRate, 0.8)
	right := sine(480, 3000, SampleRate, 0.4)
	mixed := make([]float64, len(left))
	for i := range mixed {
		mixed[i] = (left[i] + right[i]) / 2
	}
	tests := []struct {
		name     string
		spec     wavSpec
		channels [][]float64
		want     []float64
		maxErr   int // in 16-bit steps
	}{
		{"pcm-8-bit", wavSpec{code: waveFormatPCM, bits: 8}, [][]float64{left}, left, 256},
		{"pcm-16-bit", wavSpec{code: waveFormatPCM, bits: 16}, [][]float64{left}, left, 0},
		{"pcm-24-bit", wavSpec{code: waveFormatPCM, bits: 24}, [][]float64{left}, left, 1},
		{"pcm-32-bit", wavSpec{code: waveFormatPCM, bits: 32}, [][]float64{left}, left, 1},
		{"float-32-bit", wavSpec{code: waveFormatFloat, bits: 32}, [][]float64{left}, left, 1},
		{"float-64-bit", wavSpec{code: waveFormatFloat, bits: 64}, [][]float64{left}, left, 1},
		{"extensible-24-bit", wavSpec{code: waveFormatPCM, bits: 24, extensible: true}, [][]float64{left}, left, 1},
		{"extensible-float", wavSpec{code: waveFormatFloat, bits: 32, extensible: true}, [][]float64{left}, left, 1},
		{"stereo-averaged", wavSpec{code: waveFormatPCM, bits: 16}, [][]float64{left, right}, mixed, 1},
		{"four-channels-averaged", wavSpec{code: waveFormatPCM, bits: 16}, [][]float64{left, right, left, right}, mixed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.rate = SampleRate
			got, err := DecodeWAV(buildWAV(tt.spec, tt.channels...))
			if err != nil {
				t.Fatal(err)
			}
			want := toInt16(tt.want)
			if len(got) != len(want) {
				t.Fatalf("got %d samples, want %d", len(got), len(want))
			}
			worst := 0
			for i := range want {
				worst = max(worst, abs(int(got[i])-int(want[i])))
			}
			if worst > tt.maxErr {
				t.Errorf("largest error %d steps, want at most %d", worst, tt.maxErr)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestReadWAVResamples converts files at other rates to 48 kHz and checks
// length, pitch and distortion.
func TestReadWAVResamples(t *testing.T) {
	for _, rate := range []int{8000, 16000, 22050, 44100, 96000} {
		t.Run(strconv.Itoa(rate)+"-hz", func(t *testing.T) {
			const hz = 1000
			path := filepath.Join(t.TempDir(), "tone.wav")
			if err := os.WriteFile(path, buildWAV(wavSpec{code: waveFormatPCM, bits: 16, rate: rate}, sine(rate, hz, rate, 0.5)), 0o644); err != nil {
				t.Fatal(err)
			}
			pcm, err := ReadWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "samples", len(pcm), SampleRate-FrameSamples, SampleRate+FrameSamples)
			x := toFloat64(pcm)[FrameSamples : len(pcm)-FrameSamples] // the edges fade in and out
			within(t, "frequency", zeroCrossingFrequency(x, SampleRate), hz-0.5, hz+0.5)
			within(t, "SNR dB", sineSNR(x, hz, SampleRate), 60, math.Inf(1))
		})
	}
}

// TestReadWAVFromSox reads files that sox wrote, as a check against a
// writer other than our own (sox uses WAVE_FORMAT_EXTENSIBLE for some).
func TestReadWAVFromSox(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox is not installed")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"16-bit-mono-22050", []string{"-r", "22050", "-c", "1", "-b", "16"}},
		{"24-bit-stereo-44100", []string{"-r", "44100", "-c", "2", "-b", "24"}},
		{"float-stereo-96000", []string{"-r", "96000", "-c", "2", "-e", "floating-point", "-b", "32"}},
		{"8-bit-mono-8000", []string{"-r", "8000", "-c", "1", "-b", "8"}},
		{"32-bit-6-channels-48000", []string{"-r", "48000", "-c", "6", "-b", "32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sox.wav")
			args := append([]string{"-n"}, tt.args...)
			args = append(args, path, "synth", "1", "sine", "440", "vol", "0.5")
			if out, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
				t.Fatalf("sox: %v\n%s", err, out)
			}
			pcm, err := ReadWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "samples", len(pcm), SampleRate-FrameSamples, SampleRate+FrameSamples)
			x := toFloat64(pcm)[FrameSamples : len(pcm)-FrameSamples]
			within(t, "frequency", zeroCrossingFrequency(x, SampleRate), 439.5, 440.5)
			within(t, "level", rms(x)*math.Sqrt2, 0.45, 0.55)
		})
	}
}

func TestDecodeWAVSkipsOtherChunksAndTruncation(t *testing.T) {
	pcm := []float64{0.25, -0.25, 0.5}
	full := buildWAV(wavSpec{code: waveFormatPCM, bits: 16, rate: SampleRate}, pcm)
	fmtChunk := full[12 : 12+8+16]
	dataChunk := full[12+8+16:]
	tests := []struct {
		name string
		wav  []byte
		want []int16
	}{
		{"odd-sized-list-chunk-first", riff(chunk("LIST", []byte("abc")), fmtChunk, dataChunk), toInt16(pcm)},
		{"chunk-after-data", append(full, chunk("id3 ", []byte("tag"))...), toInt16(pcm)},
		{"data-cut-short", full[:len(full)-2], toInt16(pcm[:2])},
		{"data-cut-mid-sample", full[:len(full)-1], toInt16(pcm[:2])},
		{"data-size-placeholder", func() []byte {
			b := append([]byte(nil), full...)
			binary.LittleEndian.PutUint32(b[40:], 0xFFFFFFFF)
			return b
		}(), toInt16(pcm)},
		{"empty-data", riff(fmtChunk, chunk("data", nil)), []int16{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(tt.wav)
			if err != nil {
				t.Fatal(err)
			}
			if !slicesEqual(got, tt.want) {
				t.Errorf("DecodeWAV = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeWAVRejectsMalformed(t *testing.T) {
	good := buildWAV(wavSpec{code: waveFormatPCM, bits: 16, rate: SampleRate}, []float64{0.5})
	patch := func(off int, v uint16) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint16(b[off:], v)
		return b
	}
	patch32 := func(off int, v uint32) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	ext := buildWAV(wavSpec{code: waveFormatPCM, bits: 16, rate: SampleRate, extensible: true}, []float64{0.5})
	badGUID := append([]byte(nil), ext...)
	badGUID[12+8+39] ^= 0xFF
	tests := []struct {
		name    string
		wav     []byte
		want    error
		message string
	}{
		{"empty", nil, ErrNotWAV, "no RIFF/WAVE header"},
		{"text-file", []byte("hello, this is not audio at all"), ErrNotWAV, "no RIFF/WAVE header"},
		{"riff-but-not-wave", append([]byte("RIFF\x04\x00\x00\x00AVI "), good[12:]...), ErrNotWAV, "no RIFF/WAVE header"},
		{"no-chunks", good[:12], ErrNotWAV, "no fmt chunk"},
		{"no-data-chunk", good[:12+8+16], ErrNotWAV, "no data chunk"},
		{"data-before-fmt", riff(chunk("data", []byte{1, 2}), good[12:12+8+16]), ErrNotWAV, "data chunk before fmt chunk"},
		{"short-fmt", riff(chunk("fmt ", good[20:30]), chunk("data", nil)), ErrNotWAV, "too short"},
		{"zero-channels", patch(22, 0), ErrNotWAV, "0 channels"},
		{"block-align-mismatch", patch(32, 4), ErrNotWAV, "block align"},
		{"12-bit-pcm", patch(34, 12), ErrUnsupportedWAV, "12-bit"},
		{"16-bit-float", patch(20, waveFormatFloat), ErrUnsupportedWAV, "16-bit float"},
		{"a-law", patch(20, 6), ErrUnsupportedWAV, "0x0006"},
		{"rate-too-low", patch32(24, 500), ErrUnsupportedWAV, "500 Hz"},
		{"rate-too-high", patch32(24, 1000000), ErrUnsupportedWAV, "1000000 Hz"},
		{"extensible-bad-guid", badGUID, ErrNotWAV, "EXTENSIBLE"},
		{"longer-than-an-hour", buildWAV(wavSpec{code: waveFormatPCM, bits: 8, rate: minRate}, make([]float64, maxWAVSeconds*minRate+1)), ErrUnsupportedWAV, "longer than 3600 s"},
		{"extensible-short", riff(chunk("fmt ", ext[20:20+30]), chunk("data", nil)), ErrNotWAV, "EXTENSIBLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeWAV(tt.wav)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeWAV error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "media: ") {
				t.Errorf("DecodeWAV error = %q, want it to start with \"media: \" and mention %q", err, tt.message)
			}
		})
	}
}

func TestReadWAVErrorMessages(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.wav")
	if err := os.WriteFile(text, []byte("not audio"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.wav")

	_, err := ReadWAV(missing)
	if want := "media: " + missing + ": open: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("ReadWAV(missing) error = %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadWAV(missing) error %v does not wrap fs.ErrNotExist", err)
	}
	_, err = ReadWAV(text)
	if want := "media: " + text + ": not a WAV file"; err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrNotWAV) {
		t.Errorf("ReadWAV(text) error = %v, want %q… wrapping ErrNotWAV", err, want)
	}
	if err := WriteWAV(filepath.Join(dir, "no-such-dir", "x.wav"), nil, SampleRate); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteWAV into a missing directory: error = %v, want one wrapping fs.ErrNotExist", err)
	}
	if err := WriteWAV(filepath.Join(dir, "x.wav"), nil, 0); err == nil {
		t.Error("WriteWAV at 0 Hz succeeded")
	}
}

// FuzzReadWAV feeds arbitrary bytes to the WAV decoder: it must never panic,
// and what it accepts must decode to the length its header implies.
func FuzzReadWAV(f *testing.F) {
	tone := sine(300, 440, 22050, 0.5)
	for _, s := range []wavSpec{
		{code: waveFormatPCM, bits: 8, rate: 8000},
		{code: waveFormatPCM, bits: 16, rate: 22050},
		{code: waveFormatPCM, bits: 24, rate: 44100, extensible: true},
		{code: waveFormatPCM, bits: 32, rate: 48000},
		{code: waveFormatFloat, bits: 32, rate: 96000},
		{code: waveFormatFloat, bits: 64, rate: 12345},
	} {
		f.Add(buildWAV(s, tone, tone))
	}
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Add([]byte("not a wav file"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := DecodeWAV(data)
		if err != nil {
			if !errors.Is(err, ErrNotWAV) && !errors.Is(err, ErrUnsupportedWAV) {
				t.Fatalf("error %v wraps neither ErrNotWAV nor ErrUnsupportedWAV", err)
			}
			return
		}
		format, samples, err := parseWAV(data)
		if err != nil {
			t.Fatalf("DecodeWAV accepted what parseWAV rejects: %v", err)
		}
		frames := int64(len(samples) / (format.channels * format.bits / 8))
		want := (frames*SampleRate + int64(format.rate) - 1) / int64(format.rate)
		if int64(len(pcm)) != want {
			t.Fatalf("decoded %d samples from %d frames at %d Hz, want %d", len(pcm), frames, format.rate, want)
		}
	})
}
