// Package media moves audio in and out of Parley and encodes it: microphone
// sources and speaker sinks (PortAudio devices, WAV files, tones, silence),
// WAV reading and writing, band-limited resampling, real-time pacing, and the
// Opus codec.
//
// All PCM inside Parley is 48 kHz mono int16 ([SampleRate]), moved in frames
// of 20 ms ([FrameSamples] samples) unless a caller picks another frame size.
//
// A [Source] is opened from a microphone spec and a [Sink] from a speaker spec
// (the --mic and --speaker flags):
//
//	default          the system's default PortAudio device
//	device:NAME      the first PortAudio device named NAME, or whose name contains it
//	file:PATH.wav    a WAV file: played once in real time, then silence; or recorded
//	tone:HZ          a sine tone (sources only)
//	silence          zeros (sources only)
//	null             discards what it is given (sinks only)
//
// Sources pace themselves: ReadFrame returns each frame when it is due in
// real time, so a sender loop needs no clock of its own. Sinks do not pace;
// their caller does, usually with a [Pacer].
//
// Device streams use PortAudio's callback API. The callbacks only copy
// samples into or out of a small ring buffer guarded by a mutex held for one
// copy; they never allocate and never wait for the Go side. Capture keeps at
// most four frames and drops the oldest when the reader is late, so stale
// audio never adds latency; playback plays silence when the writer is late.
// Both count these events ([DeviceStats]).
//
// A call's sound goes through a [FrontEnd]: it keeps the microphone and
// speaker switchable mid-call, replaces a device that stops with the
// default one, scales by the microphone gain and speaker volume, and runs
// the capture through media/dsp (echo cancellation fed with what the
// speaker actually plays, noise suppression, gain control, and a VAD that
// zeroes silence so that Opus DTX sends nothing). A device speaker follows
// its own clock by resampling what it is given by a fraction of a percent
// (driftCompensator), so that a long call neither runs dry nor builds up
// delay.
//
// The codec is libopus (through cgo), configured for VoIP: 48 kHz mono,
// in-band FEC and DTX on request (RFC 6716; RFC 7587 for its use over RTP).
package media
