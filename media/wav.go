package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
)

// WAV (RIFF WAVE) layout: "RIFF" size "WAVE", then chunks of a 4-byte id, a
// 32-bit little-endian size and the body padded to an even length. The "fmt "
// chunk describes the samples (WAVEFORMATEX, or WAVEFORMATEXTENSIBLE whose
// sub-format GUID carries the real format code); the "data" chunk holds them
// interleaved by channel. Other chunks (LIST, fact, bext, ...) are skipped.
const (
	waveFormatPCM        = 0x0001
	waveFormatFloat      = 0x0003
	waveFormatExtensible = 0xFFFE

	// maxWAVSeconds bounds what ReadWAV decodes, which it holds in memory
	// several times over (a microphone clip of an hour is plenty).
	maxWAVSeconds = 3600

	wavHeaderSize = 44                              // RIFF header + 16-byte fmt chunk + data chunk header
	maxWAVData    = 1<<32 - 1 - (wavHeaderSize - 8) // the RIFF size field must still fit in 32 bits
)

// extensibleGUIDTail is the fixed part of the KSDATAFORMAT_SUBTYPE GUIDs that
// follows the 16-bit format code in WAVEFORMATEXTENSIBLE.
var extensibleGUIDTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// ReadWAV reads a WAV file and returns its audio as 48 kHz mono PCM: channels
// are averaged and other rates resampled (see [DecodeWAV] for the formats).
func ReadWAV(path string) ([]int16, error) {
	pcm, err := readWAV(path)
	if err != nil {
		return nil, fmt.Errorf("media: %s: %w", path, err)
	}
	return pcm, nil
}

// DecodeWAV decodes the bytes of a WAV file to 48 kHz mono PCM. It reads
// integer PCM of 8 (unsigned), 16, 24 and 32 bits and IEEE float of 32 and 64
// bits, plain or WAVE_FORMAT_EXTENSIBLE, any number of channels (averaged) and
// any sample rate from 1000 to 384000 Hz (resampled with [Resample]), up to
// an hour long. A data
// chunk cut short, as a recorder that crashed leaves it, is read as far as it
// goes.
func DecodeWAV(data []byte) ([]int16, error) {
	pcm, err := decodeWAV(data)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return pcm, nil
}

// WriteWAV writes pcm as a mono 16-bit PCM WAV file at sampleRate Hz.
func WriteWAV(path string, pcm []int16, sampleRate int) error {
	if sampleRate <= 0 {
		return fmt.Errorf("media: write %s: sample rate %d Hz must be positive", path, sampleRate)
	}
	if uint64(len(pcm))*2 > maxWAVData {
		return fmt.Errorf("media: write %s: %d samples are too many for a WAV file", path, len(pcm))
	}
	buf := make([]byte, 0, wavHeaderSize+2*len(pcm))
	buf = appendWAVHeader(buf, sampleRate, uint32(2*len(pcm)))
	for _, s := range pcm {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(s))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("media: write %s: %w", path, flattenPathError(err))
	}
	return nil
}

// appendWAVHeader appends the header of a mono 16-bit PCM WAV file whose data
// chunk holds dataBytes (at most maxWAVData) bytes.
func appendWAVHeader(b []byte, sampleRate int, dataBytes uint32) []byte {
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, dataBytes+wavHeaderSize-8)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, waveFormatPCM)
	b = le.AppendUint16(b, 1) // channels
	b = le.AppendUint32(b, uint32(sampleRate))
	b = le.AppendUint32(b, uint32(sampleRate)*2) // bytes per second
	b = le.AppendUint16(b, 2)                    // bytes per sample frame
	b = le.AppendUint16(b, 16)                   // bits per sample
	b = append(b, "data"...)
	return le.AppendUint32(b, dataBytes)
}

// readWAV is ReadWAV with errors that do not repeat the package name.
func readWAV(path string) ([]int16, error) {
	c, err := openClip(path)
	if err != nil {
		return nil, err
	}
	return c.render(), nil
}

func decodeWAV(data []byte) ([]int16, error) {
	c, err := newClip(data)
	if err != nil {
		return nil, err
	}
	return c.render(), nil
}

// clip is a WAV file's audio, mixed to mono at its own rate, read out at
// 48 kHz. Converting as it is read rather than all at once keeps opening a
// file: microphone cheap (a call's setup does not wait for it) and spreads
// the cost over the call, a few tens of microseconds per frame.
type clip struct {
	mono []float32
	r    *resampler // nil at 48 kHz
	n    int        // samples at 48 kHz
}

func openClip(path string) (*clip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, flattenPathError(err)
	}
	return newClip(data)
}

func newClip(data []byte) (*clip, error) {
	f, samples, err := parseWAV(data)
	if err != nil {
		return nil, err
	}
	if frames := len(samples) / (f.channels * f.bits / 8); frames > maxWAVSeconds*f.rate {
		return nil, fmt.Errorf("%w: longer than %d s", ErrUnsupportedWAV, maxWAVSeconds)
	}
	c := &clip{mono: f.mono(samples)}
	c.n = len(c.mono)
	if f.rate != SampleRate {
		if err := checkRates(f.rate, SampleRate); err != nil {
			return nil, err
		}
		c.r = newResampler(f.rate, SampleRate)
		c.n = c.r.outputLen(len(c.mono))
	}
	return c, nil
}

// read fills dst with the clip's 48 kHz samples from position pos on and
// returns how many there were.
func (c *clip) read(pos int, dst []int16) int {
	n := min(len(dst), c.n-pos)
	for i := range n {
		if c.r != nil {
			dst[i] = floatToInt16(c.r.at(c.mono, pos+i))
		} else {
			dst[i] = floatToInt16(c.mono[pos+i])
		}
	}
	return max(n, 0)
}

// render returns the whole clip at 48 kHz.
func (c *clip) render() []int16 {
	pcm := make([]int16, c.n)
	c.read(0, pcm)
	return pcm
}

// wavFormat is what a fmt chunk says about the samples.
type wavFormat struct {
	code     uint16 // waveFormatPCM or waveFormatFloat
	channels int
	rate     int
	bits     int // container bits per sample
}

// parseWAV checks the RIFF structure and returns the format and the sample
// data, trimmed to whole sample frames.
func parseWAV(data []byte) (wavFormat, []byte, error) {
	var f wavFormat
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return f, nil, fmt.Errorf("%w (no RIFF/WAVE header)", ErrNotWAV)
	}
	haveFormat := false
	for pos := uint64(12); pos+8 <= uint64(len(data)); {
		id := string(data[pos : pos+4])
		size := uint64(binary.LittleEndian.Uint32(data[pos+4 : pos+8]))
		body := data[pos+8 : min(pos+8+size, uint64(len(data)))]
		switch id {
		case "fmt ":
			var err error
			if f, err = parseWAVFormat(body); err != nil {
				return f, nil, err
			}
			haveFormat = true
		case "data":
			if !haveFormat {
				return f, nil, fmt.Errorf("%w (data chunk before fmt chunk)", ErrNotWAV)
			}
			frame := f.channels * f.bits / 8
			return f, body[:len(body)/frame*frame], nil
		}
		pos += 8 + size + size&1
	}
	if !haveFormat {
		return f, nil, fmt.Errorf("%w (no fmt chunk)", ErrNotWAV)
	}
	return f, nil, fmt.Errorf("%w (no data chunk)", ErrNotWAV)
}

func parseWAVFormat(b []byte) (wavFormat, error) {
	le := binary.LittleEndian
	if len(b) < 16 {
		return wavFormat{}, fmt.Errorf("%w (fmt chunk of %d bytes is too short)", ErrNotWAV, len(b))
	}
	f := wavFormat{
		code:     le.Uint16(b[0:2]),
		channels: int(le.Uint16(b[2:4])),
		rate:     int(le.Uint32(b[4:8])),
		bits:     int(le.Uint16(b[14:16])),
	}
	blockAlign := int(le.Uint16(b[12:14]))
	if f.code == waveFormatExtensible {
		if len(b) < 40 || !bytes.Equal(b[26:40], extensibleGUIDTail) {
			return f, fmt.Errorf("%w (malformed WAVE_FORMAT_EXTENSIBLE fmt chunk)", ErrNotWAV)
		}
		f.code = le.Uint16(b[24:26]) // valid bits (b[18:20]) < container bits are MSB-aligned: decode by container
	}
	switch {
	case f.channels == 0:
		return f, fmt.Errorf("%w (0 channels)", ErrNotWAV)
	case f.code != waveFormatPCM && f.code != waveFormatFloat:
		return f, fmt.Errorf("%w: format code 0x%04x (want integer PCM or IEEE float)", ErrUnsupportedWAV, f.code)
	case f.code == waveFormatPCM && f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32:
		return f, fmt.Errorf("%w: %d-bit integer PCM (want 8, 16, 24 or 32)", ErrUnsupportedWAV, f.bits)
	case f.code == waveFormatFloat && f.bits != 32 && f.bits != 64:
		return f, fmt.Errorf("%w: %d-bit float (want 32 or 64)", ErrUnsupportedWAV, f.bits)
	case blockAlign != f.channels*f.bits/8:
		return f, fmt.Errorf("%w (block align %d does not match %d channels of %d bits)", ErrNotWAV, blockAlign, f.channels, f.bits)
	case f.rate < minRate || f.rate > maxRate:
		return f, fmt.Errorf("%w: sample rate %d Hz (want %d..%d)", ErrUnsupportedWAV, f.rate, minRate, maxRate)
	}
	return f, nil
}

// mono decodes interleaved sample data to floats in [-1, 1], averaging the
// channels.
func (f wavFormat) mono(data []byte) []float32 {
	width := f.bits / 8
	out := make([]float32, len(data)/(width*f.channels))
	for i := range out {
		var sum float64
		for c := range f.channels {
			off := (i*f.channels + c) * width
			sum += f.sample(data[off : off+width])
		}
		out[i] = float32(sum / float64(f.channels))
	}
	return out
}

// sample decodes one sample; non-finite floats become silence or full scale
// so that they cannot poison the resampler's sums.
func (f wavFormat) sample(b []byte) float64 {
	le := binary.LittleEndian
	if f.code == waveFormatFloat {
		var x float64
		if f.bits == 32 {
			x = float64(math.Float32frombits(le.Uint32(b)))
		} else {
			x = math.Float64frombits(le.Uint64(b))
		}
		if math.IsNaN(x) {
			return 0
		}
		return max(-1, min(1, x))
	}
	switch f.bits {
	case 8:
		return float64(int(b[0])-128) / 128 // 8-bit WAV is unsigned
	case 16:
		return float64(int16(le.Uint16(b))) / (1 << 15)
	case 24:
		return float64(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)>>8) / (1 << 23)
	default:
		return float64(int32(le.Uint32(b))) / (1 << 31)
	}
}

// floatToInt16 rounds x (full scale ±1) to a 16-bit sample, clipping.
func floatToInt16(x float32) int16 {
	v := math.Round(float64(x) * (1 << 15))
	return int16(max(math.MinInt16, min(math.MaxInt16, v)))
}

// flattenPathError drops the path from an *fs.PathError, which the caller's
// message already names, leaving "open: no such file or directory". The cause
// stays wrapped (errors.Is(err, fs.ErrNotExist) holds).
func flattenPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
