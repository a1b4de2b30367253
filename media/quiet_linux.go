//go:build linux

package media

/*
#cgo pkg-config: alsa jack
#include <alsa/asoundlib.h>
#include <jack/jack.h>

static void parleyALSAQuiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void parleyJACKQuiet(const char *msg) {}

static void parleyQuietAudioLibraries(void) {
	snd_lib_error_set_handler(parleyALSAQuiet);
	jack_set_error_function(parleyJACKQuiet);
	jack_set_info_function(parleyJACKQuiet);
}
*/
import "C"

import "sync"

var quietOnce sync.Once

// quietAudioLibraries stops ALSA and JACK from writing to the terminal. While
// PortAudio probes for devices they print dozens of lines ("cannot find card
// '0'", "jack server is not running") straight to stderr and stdout, which
// would scribble over the terminal UI. PortAudio still reports every failure
// that matters through its own error codes.
func quietAudioLibraries() {
	quietOnce.Do(func() { C.parleyQuietAudioLibraries() })
}
