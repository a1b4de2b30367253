package media

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gordonklaus/portaudio"
)

const (
	// framesPerBuffer is the size of a PortAudio callback buffer: 10 ms, so a
	// 20 ms frame is ready one callback after its last sample was captured.
	framesPerBuffer = SampleRate / 100
	// ringFrames is how many of the caller's frames a device ring keeps
	// before it drops the oldest: enough to ride out scheduling hiccups,
	// too few for stale audio to build up latency.
	ringFrames = 4
	// ringCapacity bounds the rings: ringFrames frames of up to 40 ms.
	ringCapacity = ringFrames * 2 * FrameSamples
	// stallTimeout is how long a capture device may deliver nothing before
	// ReadFrame gives up with ErrDeviceStalled.
	stallTimeout = 2 * time.Second
)

// DeviceInfo describes a sound device as PortAudio sees it.
type DeviceInfo struct {
	Name           string
	HostAPI        string // ALSA, JACK Audio Connection Kit, Core Audio, ...
	InputChannels  int
	OutputChannels int
	// DefaultInput and DefaultOutput report whether the device is what
	// "default" opens for a microphone or a speaker.
	DefaultInput, DefaultOutput bool
	DefaultSampleRate           float64
}

// DeviceStats counts the samples a device stream lost or invented because
// its two sides did not keep pace.
type DeviceStats struct {
	// Overruns counts samples dropped, oldest first, because the ring was
	// full: on a microphone the reader was late (not counted before the
	// first read), on a speaker the writer ran ahead of the device.
	Overruns uint64
	// Underruns counts samples of silence a speaker played because the
	// writer was late (not counted before playback first starts).
	Underruns uint64
	// HostXruns counts callbacks in which PortAudio reported that the device
	// itself dropped or inserted samples.
	HostXruns uint64
}

// StatsReporter is implemented by the Sources and Sinks that OpenSource and
// OpenSink open on sound devices.
type StatsReporter interface {
	Stats() DeviceStats
}

// Devices lists the sound devices PortAudio finds. A machine without a sound
// card has none, which is not an error.
func Devices() ([]DeviceInfo, error) {
	var list []DeviceInfo
	err := withPortAudio(func() error {
		devs, err := portaudio.Devices()
		if err != nil {
			return err
		}
		in, _ := portaudio.DefaultInputDevice()
		out, _ := portaudio.DefaultOutputDevice()
		for _, d := range devs {
			list = append(list, DeviceInfo{
				Name:              d.Name,
				HostAPI:           d.HostApi.Name,
				InputChannels:     d.MaxInputChannels,
				OutputChannels:    d.MaxOutputChannels,
				DefaultInput:      d == in,
				DefaultOutput:     d == out,
				DefaultSampleRate: d.DefaultSampleRate,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("media: list sound devices: %w", err)
	}
	return list, nil
}

// PortAudio must be initialised before use and terminated after, and the Go
// binding keeps unguarded global state, so every call into it outside stream
// callbacks holds paLock. PortAudio is initialised while anything uses it and
// terminated when the last stream closes; it enumerates devices only when
// initialised, so a device plugged in later shows up once it is idle.
//
// paLock is a channel rather than a mutex so that waiting for it can time
// out: PortAudio 19.6 blocks for ever stopping a JACK stream whose server has
// died, and that must not hang every later use of sound devices.
var (
	paLock = make(chan struct{}, 1)
	// paLock guards the following field.
	paUsers int
)

const (
	// paLockTimeout bounds the wait for another PortAudio call, which
	// initialising a sound system with many devices can make long.
	paLockTimeout = 5 * time.Second
	// closeTimeout bounds the wait for a stream to stop.
	closeTimeout = 2 * time.Second
)

func lockPortAudio() error {
	select {
	case paLock <- struct{}{}:
		return nil
	case <-time.After(paLockTimeout):
		return errors.New("PortAudio is stuck (a sound device failed to stop)")
	}
}

func unlockPortAudio() { <-paLock }

// acquirePortAudioLocked initialises PortAudio for one more user.
func acquirePortAudioLocked() error {
	if paUsers == 0 {
		quietAudioLibraries()
		if err := portaudio.Initialize(); err != nil {
			return fmt.Errorf("initialise PortAudio: %w", err)
		}
	}
	paUsers++
	return nil
}

// releasePortAudioLocked ends one user's use of PortAudio.
func releasePortAudioLocked() {
	if paUsers--; paUsers == 0 {
		// Terminate only fails if PortAudio was not initialised, which
		// paUsers rules out.
		_ = portaudio.Terminate()
	}
}

// withPortAudio runs fn with PortAudio initialised and locked.
func withPortAudio(fn func() error) error {
	if err := lockPortAudio(); err != nil {
		return err
	}
	defer unlockPortAudio()
	if err := acquirePortAudioLocked(); err != nil {
		return err
	}
	defer releasePortAudioLocked()
	return fn()
}

// direction says which way a device stream carries audio.
type direction struct {
	input    bool
	noun     string // for messages
	flag     string // what to use instead of a device
	channels func(*portaudio.DeviceInfo) int
}

var (
	inputDir = direction{
		input: true, noun: "input", flag: "--mic file:PATH.wav, tone:HZ or silence",
		channels: func(d *portaudio.DeviceInfo) int { return d.MaxInputChannels },
	}
	outputDir = direction{
		noun: "output", flag: "--speaker file:PATH.wav or null",
		channels: func(d *portaudio.DeviceInfo) int { return d.MaxOutputChannels },
	}
)

// deviceStream is a started PortAudio stream and the hold on PortAudio it
// keeps until closed.
type deviceStream struct {
	stream *portaudio.Stream
	// latency is what PortAudio says a sample takes between the device
	// and the callback, either way.
	latency time.Duration
}

// openDeviceStream opens and starts a stream on the device called name ("" is
// the default device). callback is called with each buffer of
// framesPerBuffer sample frames: mono, or interleaved stereo if the device
// refuses mono; setChannels is told which before the stream starts.
func openDeviceStream(name string, dir direction, setChannels func(int), callback any) (*deviceStream, error) {
	if err := lockPortAudio(); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	defer unlockPortAudio()
	if err := acquirePortAudioLocked(); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	s, err := openDeviceStreamLocked(name, dir, setChannels, callback)
	if err != nil {
		releasePortAudioLocked()
		return nil, err
	}
	return s, nil
}

func openDeviceStreamLocked(name string, dir direction, setChannels func(int), callback any) (*deviceStream, error) {
	dev, err := findDeviceLocked(name, dir)
	if err != nil {
		return nil, err
	}
	params := portaudio.StreamParameters{SampleRate: SampleRate, FramesPerBuffer: framesPerBuffer}
	side := &params.Output
	side.Latency = dev.DefaultLowOutputLatency
	if dir.input {
		side = &params.Input
		side.Latency = dev.DefaultLowInputLatency
	}
	side.Device = dev
	// Some hardware devices take only stereo; the callbacks mix down or up.
	var stream *portaudio.Stream
	for _, channels := range []int{1, 2} {
		if channels > dir.channels(dev) {
			break
		}
		side.Channels = channels
		setChannels(channels)
		if stream, err = portaudio.OpenStream(params, callback); !errors.Is(err, portaudio.InvalidChannelCount) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("media: open %s device %q for 48 kHz 16-bit audio: %w", dir.noun, dev.Name, err)
	}
	if err := stream.Start(); err != nil {
		stream.Close()
		return nil, fmt.Errorf("media: start %s device %q: %w", dir.noun, dev.Name, err)
	}
	ds := &deviceStream{stream: stream}
	if info := stream.Info(); info != nil {
		ds.latency = max(info.InputLatency, info.OutputLatency)
	}
	return ds, nil
}

// findDeviceLocked picks the default device for dir (name == "") or the first
// whose name is name, or else contains it in any case.
func findDeviceLocked(name string, dir direction) (*portaudio.DeviceInfo, error) {
	devs, err := portaudio.Devices()
	if err != nil {
		return nil, fmt.Errorf("media: list sound devices: %w", err)
	}
	var usable []*portaudio.DeviceInfo
	for _, d := range devs {
		if dir.channels(d) > 0 {
			usable = append(usable, d)
		}
	}
	if len(usable) == 0 {
		why := "this machine has no sound card"
		if len(devs) > 0 {
			why = fmt.Sprintf("none of its %d sound devices has %s channels", len(devs), dir.noun)
		}
		return nil, fmt.Errorf("media: %w for %s (%s; use %s)", ErrNoDevice, dir.noun, why, dir.flag)
	}
	if name == "" {
		def, err := portaudio.DefaultOutputDevice()
		if dir.input {
			def, err = portaudio.DefaultInputDevice()
		}
		if err != nil || def == nil {
			return usable[0], nil // no host API names a default: any device will do
		}
		return def, nil
	}
	for _, d := range usable {
		if d.Name == name {
			return d, nil
		}
	}
	for _, d := range usable {
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(name)) {
			return d, nil
		}
	}
	names := make([]string, len(usable))
	for i, d := range usable {
		names[i] = fmt.Sprintf("%q", d.Name)
	}
	return nil, fmt.Errorf("media: device:%s: no %s device matches (have %s)", name, dir.noun, strings.Join(names, ", "))
}

// close stops the stream at once and releases PortAudio. If PortAudio does
// not return within closeTimeout, close gives up and leaves the stream, and
// the goroutine stopping it, behind: they cannot be recovered, and waiting
// would hang the caller (see paLock).
func (s *deviceStream) close() error {
	done := make(chan error, 1)
	go func() { done <- s.closeWait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeTimeout):
		return fmt.Errorf("media: sound device did not stop within %v (has its sound server died?)", closeTimeout)
	}
}

func (s *deviceStream) closeWait() error {
	if err := lockPortAudio(); err != nil {
		return fmt.Errorf("media: close sound device: %w", err)
	}
	defer unlockPortAudio()
	defer releasePortAudioLocked()
	// Abort rather than Stop: nobody waits for queued audio to play out.
	abortErr := s.stream.Abort()
	if err := s.stream.Close(); err != nil {
		return fmt.Errorf("media: close sound device: %w", err)
	}
	if abortErr != nil && !errors.Is(abortErr, portaudio.StreamIsStopped) {
		return fmt.Errorf("media: stop sound device: %w", abortErr)
	}
	return nil
}

// deviceSource is a Source on a capture device. The PortAudio callback
// pushes into the ring and signals ready; ReadFrame waits for a frame's worth.
type deviceSource struct {
	stream *deviceStream
	ready  chan struct{} // capacity 1: "the ring has grown"
	timer  *time.Timer   // stall detection, owned by ReadFrame

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu sync.Mutex
	// mu guards the following fields, shared with the callback.
	ring     sampleRing
	stats    DeviceStats
	reading  bool    // ReadFrame has been called
	channels int     // interleaved channels the callback receives
	mixed    []int16 // the callback's mono mix, when channels > 1
}

func openDeviceSource(name string) (*deviceSource, error) {
	s := &deviceSource{
		ready:  make(chan struct{}, 1),
		timer:  time.NewTimer(stallTimeout),
		closed: make(chan struct{}),
		ring:   newSampleRing(ringCapacity, ringFrames*FrameSamples),
		mixed:  make([]int16, framesPerBuffer),
	}
	s.timer.Stop()
	stream, err := openDeviceStream(name, inputDir, func(ch int) { s.channels = ch }, s.capture)
	if err != nil {
		return nil, err
	}
	s.stream = stream
	return s, nil
}

// capture is the real-time callback: no blocking beyond a short copy under
// mu, no allocation.
func (s *deviceSource) capture(in []int16, _ portaudio.StreamCallbackTimeInfo, flags portaudio.StreamCallbackFlags) {
	s.mu.Lock()
	if s.channels > 1 {
		in = mixDown(s.mixed, in, s.channels)
	}
	if dropped := s.ring.push(in); s.reading {
		s.stats.Overruns += uint64(dropped)
	}
	if flags&(portaudio.InputOverflow|portaudio.InputUnderflow) != 0 {
		s.stats.HostXruns++
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default: // already signalled
	}
}

// ReadFrame implements Source. The first call drops whatever was captured
// before it, so a call starts with fresh audio rather than a burst of stale
// frames.
func (s *deviceSource) ReadFrame(ctx context.Context, pcm []int16) error {
	if len(pcm) > ringCapacity {
		return fmt.Errorf("media: read %d samples from a sound device: frames are limited to %d", len(pcm), ringCapacity)
	}
	for {
		select {
		case <-s.closed:
			return ErrClosed
		default:
		}
		s.mu.Lock()
		if !s.reading {
			s.reading = true
			s.ring.discard(s.ring.n)
		}
		s.stats.Overruns += uint64(s.ring.setLimit(max(ringFrames*len(pcm), ringFrames*framesPerBuffer)))
		if s.ring.n >= len(pcm) {
			s.ring.pop(pcm)
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()

		s.timer.Reset(stallTimeout)
		select {
		case <-s.ready:
			s.timer.Stop()
		case <-ctx.Done():
			s.timer.Stop()
			return ctx.Err()
		case <-s.closed:
			s.timer.Stop()
			return ErrClosed
		case <-s.timer.C:
			return fmt.Errorf("media: microphone: %w (nothing for %v)", ErrDeviceStalled, stallTimeout)
		}
	}
}

// latency implements latencyReporter.
func (s *deviceSource) latency() time.Duration { return s.stream.latency }

// Stats implements StatsReporter.
func (s *deviceSource) Stats() DeviceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close implements Source.
func (s *deviceSource) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeErr = s.stream.close()
	})
	return s.closeErr
}

// deviceSink is a Sink on a playback device. WriteFrame pushes into the ring;
// the PortAudio callback plays from it, or silence while it holds too little.
type deviceSink struct {
	stream    *deviceStream
	closeOnce sync.Once
	closeErr  error

	mu sync.Mutex
	// mu guards the following fields, shared with the callback.
	ring    sampleRing
	stats   DeviceStats
	closed  bool
	playing bool // playback has started: from now on a dry ring is an underrun
	// priming is set while the ring refills after running dry: playback
	// resumes once it holds primeLevel samples, one frame plus one callback
	// buffer, so that the writer's timing jitter does not starve every
	// other callback.
	priming    bool
	primeLevel int
	channels   int     // interleaved channels the callback must fill
	mono       []int16 // the callback's mono samples, when channels > 1
	// tap, if set, is given every buffer the device plays, silence
	// included: an echo canceller's reference.
	tap func(pcm []int16)
	// callbacks counts the callbacks so far; WriteFrame notes when it last
	// saw the count move, or first wrote (progressAt, seenCallbacks), to
	// tell a device that stopped playing.
	callbacks, seenCallbacks uint64
	progressAt               time.Time
	drift                    driftCompensator
}

func openDeviceSink(name string) (*deviceSink, error) {
	s := &deviceSink{
		ring:       newSampleRing(ringCapacity, ringFrames*FrameSamples),
		priming:    true,
		primeLevel: FrameSamples + framesPerBuffer,
		mono:       make([]int16, framesPerBuffer),
	}
	stream, err := openDeviceStream(name, outputDir, func(ch int) { s.channels = ch }, s.play)
	if err != nil {
		return nil, err
	}
	s.stream = stream
	return s, nil
}

// play is the real-time callback: no blocking beyond a short copy under mu,
// no allocation.
func (s *deviceSink) play(out []int16, _ portaudio.StreamCallbackTimeInfo, flags portaudio.StreamCallbackFlags) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks++
	if flags&(portaudio.OutputUnderflow|portaudio.OutputOverflow) != 0 {
		s.stats.HostXruns++
	}
	mono := out
	if s.channels > 1 {
		mono = s.mono[:min(len(s.mono), len(out)/s.channels)]
	}
	if s.priming && s.ring.n >= s.primeLevel {
		s.priming, s.playing = false, true
	}
	if s.priming || s.ring.n < len(mono) {
		s.priming = true
		clear(out)
		if s.playing {
			s.stats.Underruns += uint64(len(mono))
		}
		if s.tap != nil {
			clear(mono)
			s.tap(mono)
		}
		return
	}
	s.ring.pop(mono)
	if s.tap != nil {
		s.tap(mono)
	}
	if s.channels > 1 {
		spreadUp(out, mono, s.channels)
	}
}

// WriteFrame implements Sink. It copies pcm into the ring, dropping the
// oldest audio if the writer has run more than a few frames ahead, and
// stretches or squeezes it by a fraction of a percent to follow the
// device's clock (see driftCompensator). A device that has played nothing
// for stallTimeout fails it with ErrDeviceStalled.
func (s *deviceSink) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := time.Now()
	if s.callbacks != s.seenCallbacks || s.progressAt.IsZero() {
		s.seenCallbacks, s.progressAt = s.callbacks, now
	} else if now.Sub(s.progressAt) > stallTimeout {
		return fmt.Errorf("media: speaker: %w (nothing played for %v)", ErrDeviceStalled, stallTimeout)
	}
	s.primeLevel = min(len(pcm)+framesPerBuffer, ringCapacity)
	s.stats.Overruns += uint64(s.ring.setLimit(ringFrames*len(pcm) + framesPerBuffer))
	if s.playing && !s.priming && len(pcm) >= 3 {
		s.drift.observe(s.ring.n, float64(len(pcm))/SampleRate)
		pcm = s.drift.resample(pcm)
	}
	s.stats.Overruns += uint64(s.ring.push(pcm))
	return nil
}

// setTap makes tap the receiver of every buffer the device plays.
func (s *deviceSink) setTap(tap func(pcm []int16)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tap = tap
}

// latency implements latencyReporter.
func (s *deviceSink) latency() time.Duration { return s.stream.latency }

// Stats implements StatsReporter.
func (s *deviceSink) Stats() DeviceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close implements Sink.
func (s *deviceSink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.stream.close()
	})
	return s.closeErr
}

// mixDown averages interleaved frames of channels samples into dst and
// returns the filled part.
func mixDown(dst, interleaved []int16, channels int) []int16 {
	n := min(len(dst), len(interleaved)/channels)
	for i := range n {
		var sum int32
		for _, v := range interleaved[i*channels : (i+1)*channels] {
			sum += int32(v)
		}
		dst[i] = int16(sum / int32(channels))
	}
	return dst[:n]
}

// spreadUp copies each mono sample to all channels of interleaved.
func spreadUp(interleaved, mono []int16, channels int) {
	for i, v := range mono {
		for c := range channels {
			interleaved[i*channels+c] = v
		}
	}
}
