package quality

import "errors"

var (
	// ErrNoSpeech means the reference signal holds no speech to compare
	// against: it is silent (no 20 ms frame above -70 dBFS) or shorter than
	// one frame.
	ErrNoSpeech = errors.New("quality: reference has no speech")
	// ErrSilent means the degraded signal is silent: nothing was heard.
	ErrSilent = errors.New("quality: degraded signal is silent")

	errInvalidArgument = errors.New("quality: invalid argument")
	errBadWAV          = errors.New("quality: bad WAV")
)
