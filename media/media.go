package media

import (
	"context"
	"time"
)

// SampleRate is the sample rate of all PCM inside Parley, in Hz.
const SampleRate = 48000

// FrameDuration is the default duration of one frame of audio.
const FrameDuration = 20 * time.Millisecond

// FrameSamples is the number of samples in a default 20 ms frame.
const FrameSamples = SampleRate / 50

// Source is where outgoing audio comes from.
//
// ReadFrame fills pcm (len(pcm) samples of 48 kHz mono) with the next frame
// and blocks until that frame is due in real time. File, tone and silence
// sources pace themselves on a clock that starts at the first ReadFrame call:
// frame n is due at start + n*len(pcm)/48000 s, and a late caller gets the
// frame at once, so the long-run rate is exact. Device sources wait for the
// device. ReadFrame returns ctx.Err() when ctx ends, and [ErrClosed] once
// Close has been called.
//
// ReadFrame is meant for one goroutine; Close may be called from any, and
// wakes a ReadFrame that is waiting.
type Source interface {
	ReadFrame(ctx context.Context, pcm []int16) error
	Close() error
}

// Sink is where incoming audio goes.
//
// The caller paces WriteFrame in real time (one frame per frame duration);
// WriteFrame does not block for long: a device sink copies into a ring that
// the device drains, a file sink appends to its file. Close finalises a file
// sink's WAV header. WriteFrame returns [ErrClosed] once Close has been
// called.
type Sink interface {
	WriteFrame(pcm []int16) error
	Close() error
}

// SourceOptions configures OpenSource; the zero value is the default.
type SourceOptions struct {
	// Loop makes a file: source repeat its file instead of going silent after
	// one play (the --mic-loop flag).
	Loop bool
}
