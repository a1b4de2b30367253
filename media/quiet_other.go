//go:build !linux

package media

// quietAudioLibraries has nothing to quieten where PortAudio uses neither
// ALSA nor JACK.
func quietAudioLibraries() {}
