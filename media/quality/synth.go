package quality

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"strings"
)

// Synthesize speaks text with espeak-ng in the given voice ("" means "en";
// e.g. "en+f3" for a female variant) and returns the samples, mono, and
// their sample rate (espeak-ng's own, 22050 Hz). If espeak-ng is not
// installed the error wraps exec.ErrNotFound.
func Synthesize(ctx context.Context, text, voice string) ([]int16, int, error) {
	if voice == "" {
		voice = "en"
	}
	path, err := exec.LookPath("espeak-ng")
	if err != nil {
		return nil, 0, fmt.Errorf("quality: synthesize: %w", err)
	}
	// The text goes through stdin so that nothing in it is read as an option.
	cmd := exec.CommandContext(ctx, path, "-v", voice, "--stdin", "--stdout")
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("quality: espeak-ng -v %s: %w: %s", voice, err, bytes.TrimSpace(stderr.Bytes()))
	}
	pcm, rate, err := decodeWAV(out)
	if err != nil {
		return nil, 0, fmt.Errorf("quality: espeak-ng -v %s output: %w", voice, err)
	}
	return pcm, rate, nil
}

// decodeWAV reads a 16-bit PCM WAV, averaging its channels to mono. Chunk
// sizes larger than the data are clipped to it, as a WAV streamed to a pipe
// (espeak-ng --stdout) cannot know its length when it writes the header.
func decodeWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: no RIFF/WAVE header", errBadWAV)
	}
	var channels, rate int
	for b = b[12:]; len(b) >= 8; {
		id, size := string(b[0:4]), int(min(binary.LittleEndian.Uint32(b[4:8]), uint32(len(b)-8)))
		body := b[8 : 8+size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, 0, fmt.Errorf("%w: fmt chunk of %d bytes", errBadWAV, size)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			depth := binary.LittleEndian.Uint16(body[14:16])
			if format != 1 || depth != 16 || channels == 0 || rate == 0 {
				return nil, 0, fmt.Errorf("%w: format %d, %d bits, %d channels, %d Hz; want 16-bit PCM",
					errBadWAV, format, depth, channels, rate)
			}
		case "data":
			if channels == 0 {
				return nil, 0, fmt.Errorf("%w: data before fmt chunk", errBadWAV)
			}
			pcm := make([]int16, size/2/channels)
			for i := range pcm {
				var sum int
				for c := range channels {
					sum += int(int16(binary.LittleEndian.Uint16(body[2*(i*channels+c):])))
				}
				pcm[i] = int16(sum / channels)
			}
			return pcm, rate, nil
		}
		next := 8 + size + size%2 // chunks are padded to even sizes
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return nil, 0, fmt.Errorf("%w: no data chunk", errBadWAV)
}
