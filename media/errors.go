package media

import "errors"

var (
	// ErrClosed is returned by a Source or Sink used after Close.
	ErrClosed = errors.New("media: closed")

	// ErrNoDevice means PortAudio found no sound device for the requested
	// direction: on a machine without a sound card, use files, tones or
	// silence instead.
	ErrNoDevice = errors.New("no sound device")

	// ErrDeviceStalled means a capture device stopped delivering audio (for
	// example it was unplugged).
	ErrDeviceStalled = errors.New("sound device stopped delivering audio")

	// ErrNotWAV means the data is not a well-formed WAV file.
	ErrNotWAV = errors.New("not a WAV file")

	// ErrUnsupportedWAV means the data is a WAV file in an encoding media
	// does not read (it reads 8/16/24/32-bit integer PCM and 32/64-bit float).
	ErrUnsupportedWAV = errors.New("unsupported WAV encoding")
)
