package media

import (
	"fmt"
	"strconv"
	"strings"
)

// Tone frequencies accepted by "tone:HZ", in Hz.
const (
	minToneHz = 20
	maxToneHz = 20000
)

// OpenSource opens a microphone spec (the --mic flag):
//
//	default        the default PortAudio input device
//	device:NAME    the first input device named NAME, or else whose name contains NAME (any case)
//	file:PATH.wav  a WAV file of any rate and channel count (see DecodeWAV), read and
//	               mixed to mono on open, converted to 48 kHz as it plays, played once in
//	               real time and then silence (or repeated with opt.Loop)
//	tone:HZ        a sine tone of HZ Hz (20..20000, fractions allowed) at -6 dBFS
//	silence        zeros
//
// Without a sound device, default and device:NAME fail with an error that
// wraps ErrNoDevice.
func OpenSource(spec string, opt SourceOptions) (Source, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "default", kind == "device" && arg != "":
		src, err := openDeviceSource(arg)
		if err != nil {
			return nil, err // not src: a nil *deviceSource is a non-nil Source
		}
		return src, nil
	case kind == "file" && arg != "":
		c, err := openClip(arg)
		if err != nil {
			return nil, fmt.Errorf("media: %s: %w", spec, err)
		}
		return newClipSource(c, opt.Loop), nil
	case kind == "tone":
		hz, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(hz >= minToneHz && hz <= maxToneHz) {
			return nil, fmt.Errorf("media: %s: frequency must be a number %d..%d", spec, minToneHz, maxToneHz)
		}
		return newToneSource(hz), nil
	case spec == "silence":
		return newSilenceSource(), nil
	}
	return nil, fmt.Errorf("media: unknown microphone %q (want default, device:NAME, file:PATH.wav, tone:HZ or silence)", spec)
}

// OpenSink opens a speaker spec (the --speaker flag):
//
//	default        the default PortAudio output device
//	device:NAME    the first output device named NAME, or else whose name contains NAME (any case)
//	file:PATH.wav  a 48 kHz mono 16-bit WAV file, created or truncated, holding every
//	               frame written (the sink does no pacing of its own)
//	null           discards the audio
//
// Without a sound device, default and device:NAME fail with an error that
// wraps ErrNoDevice.
func OpenSink(spec string) (Sink, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "default", kind == "device" && arg != "":
		sink, err := openDeviceSink(arg)
		if err != nil {
			return nil, err // not sink: a nil *deviceSink is a non-nil Sink
		}
		return sink, nil
	case kind == "file" && arg != "":
		s, err := newFileSink(arg)
		if err != nil {
			return nil, fmt.Errorf("media: %s: %w", spec, err)
		}
		return s, nil
	case spec == "null":
		return &nullSink{}, nil
	}
	return nil, fmt.Errorf("media: unknown speaker %q (want default, device:NAME, file:PATH.wav or null)", spec)
}

// IsDevice reports whether a microphone or speaker spec names a sound
// device ("default", "device:NAME") rather than a file, a tone or nothing.
func IsDevice(spec string) bool { return spec == "default" || strings.HasPrefix(spec, "device:") }
