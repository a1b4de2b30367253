package quality

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// wav builds a WAV file: a fmt chunk (format, channels, rate, bits), the
// given samples as data, and a data-size field of dataSize (-1: the true size).
func wav(format, channels, rate, bits int, samples []int16, dataSize int) []byte {
	le := binary.LittleEndian
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, uint16(format))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	b = le.AppendUint16(b, uint16(bits))
	b = append(b, "LIST"...)
	b = le.AppendUint32(b, 3)
	b = append(b, "abc\x00"...) // an odd-sized chunk and its pad byte
	b = append(b, "data"...)
	if dataSize < 0 {
		dataSize = 2 * len(samples)
	}
	b = le.AppendUint32(b, uint32(dataSize))
	for _, s := range samples {
		b = le.AppendUint16(b, uint16(s))
	}
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func TestDecodeWAV(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		want     []int16
		wantRate int
		err      bool
	}{
		{"mono", wav(1, 1, 22050, 16, []int16{1, -2, 32767, -32768}, -1), []int16{1, -2, 32767, -32768}, 22050, false},
		{"stereo-averaged", wav(1, 2, 48000, 16, []int16{100, 300, -10, -30}, -1), []int16{200, -20}, 48000, false},
		{"streamed-size-clipped", wav(1, 1, 22050, 16, []int16{5, 6, 7}, 0x7ffff000), []int16{5, 6, 7}, 22050, false},
		{"float-rejected", wav(3, 1, 48000, 32, []int16{0, 0}, -1), nil, 0, true},
		{"8-bit-rejected", wav(1, 1, 8000, 8, []int16{0}, -1), nil, 0, true},
		{"not-riff", []byte("RIFX0000WAVE"), nil, 0, true},
		{"no-data", wav(1, 1, 8000, 16, nil, -1)[:44], nil, 0, true},
		{"empty", nil, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, rate, err := decodeWAV(tt.data)
			if tt.err {
				if !errors.Is(err, errBadWAV) {
					t.Fatalf("error = %v, want errBadWAV", err)
				}
				return
			}
			if err != nil || rate != tt.wantRate || !slices.Equal(pcm, tt.want) {
				t.Fatalf("decodeWAV = %v, %d, %v; want %v, %d", pcm, rate, err, tt.want, tt.wantRate)
			}
		})
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(wav(1, 1, 22050, 16, []int16{1, 2, 3}, -1))
	f.Add(wav(1, 2, 48000, 16, []int16{1, 2, 3, 4}, 0x7ffff000))
	f.Add(wav(1, 7, 8000, 16, []int16{1, 2, 3, 4, 5, 6, 7}, 13))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, rate, err := decodeWAV(data)
		if err != nil {
			if !errors.Is(err, errBadWAV) {
				t.Fatalf("error %v does not wrap errBadWAV", err)
			}
			return
		}
		if rate <= 0 || 2*len(pcm) > len(data) {
			t.Fatalf("%d samples at %d Hz from %d bytes", len(pcm), rate, len(data))
		}
	})
}
