package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-voip/parley/media/dsp"
)

// Switch is an on/off setting whose zero value, Auto, leaves the choice to
// Parley. It is a flag.Value: "on", "off" or "auto".
type Switch int8

// The values of a Switch.
const (
	Auto Switch = iota
	On
	Off
)

// String implements flag.Value.
func (s Switch) String() string {
	switch s {
	case On:
		return "on"
	case Off:
		return "off"
	}
	return "auto"
}

// Set implements flag.Value.
func (s *Switch) Set(v string) error {
	switch v {
	case "on":
		*s = On
	case "off":
		*s = Off
	case "auto":
		*s = Auto
	default:
		return fmt.Errorf("%q: want on, off or auto", v)
	}
	return nil
}

// on reports whether the switch is on, given what Auto means.
func (s Switch) on(auto bool) bool { return s == On || s == Auto && auto }

// AudioSettings are how a FrontEnd treats the sound; the zero value is
// the default.
type AudioSettings struct {
	// AEC, NS and AGC switch echo cancellation, noise suppression and
	// automatic gain control (--aec, --ns, --agc). Auto runs them on a
	// sound device's microphone and not on files, tones and silence, which
	// carry neither echo nor room noise (and which tests compare bit for
	// bit).
	AEC, NS, AGC Switch
	// SpeakerVolumeDB and MicGainDB scale what is played and what is
	// captured, in dB (--speaker-volume, --mic-gain): 0 leaves it as it is;
	// at most +20.
	SpeakerVolumeDB, MicGainDB float64
}

// FrontEndConfig configures OpenFrontEnd; the zero value is the default
// microphone and speaker with the default settings.
type FrontEndConfig struct {
	Mic     string // an OpenSource spec; "" → "default"
	MicLoop bool
	Speaker string // an OpenSink spec; "" → "default"
	AudioSettings
	// Logger hears of devices that fail and what replaces them; nil →
	// slog.Default().
	Logger *slog.Logger
}

// MaxGainDB bounds --speaker-volume and --mic-gain: beyond it, noise and
// clipping are all that grow.
const MaxGainDB = 20

func (c *FrontEndConfig) validate() error {
	if !(c.SpeakerVolumeDB <= MaxGainDB) || !(c.MicGainDB <= MaxGainDB) { // NaN too
		return fmt.Errorf("media: speaker volume and microphone gain are in dB, at most +%d", MaxGainDB)
	}
	return nil
}

// vadHangover is how long the capture stays open after the VAD last heard
// speech: word ends and short pauses go out as they are.
const vadHangover = 300 * time.Millisecond

// FrontEnd is a call's sound: a microphone and a speaker that can be
// switched while the call runs, and the processing between them — echo
// cancellation with what the speaker plays as its reference, noise
// suppression, gain control, and a VAD that gates silence to zero so that
// the Opus encoder's DTX sends next to nothing. Its Source and Sink are
// what a Sender and a Receiver use; they outlive any device behind them.
// A device that stops (unplugged, or its sound server gone) is replaced by
// the default one, or by silence or nothing if there is none, and the
// Logger is told.
type FrontEnd struct {
	log  *slog.Logger
	proc *dsp.Processor

	// readMu makes one microphone reader at a time (a call's sender, and
	// from a Divert on a mixer's), which owns the VAD's state and the
	// microphone's overruns counted so far.
	readMu     sync.Mutex
	sinceVoice int // samples since the VAD last heard speech
	overruns   uint64
	// writeMu serialises the speaker's writers (the call's receiver, a
	// tone) and guards scaled, the frame after the volume.
	writeMu sync.Mutex
	scaled  []int16

	// toneMu guards the tone playing: toneStop stops it and waits for it
	// (nil when none plays), toneDone is closed when it is over, and
	// toneEnds reports whether it ends on its own.
	toneMu   sync.Mutex
	toneStop func()
	toneDone chan struct{}
	toneEnds bool

	// diverted, once set, is where Source and Sink lead (Divert).
	diverted atomic.Pointer[diversion]
	// onFallback, if set, hears of a device replaced (OnFallback).
	onFallback atomic.Pointer[func(Fallback)]

	micGain, volume  atomic.Uint64 // float64 bits: linear factors
	micDBFS, spkDBFS atomic.Uint64 // float64 bits: the last frame's level
	voice            atomic.Bool

	mu sync.Mutex
	// mu guards the following fields.
	cfg          FrontEndConfig
	src          Source
	sink         Sink
	tapped       bool // sink plays to a device that feeds proc itself
	micClosed    bool
	speakerClose bool
}

// OpenFrontEnd opens cfg's microphone and speaker.
func OpenFrontEnd(cfg FrontEndConfig) (*FrontEnd, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Mic == "" {
		cfg.Mic = "default"
	}
	if cfg.Speaker == "" {
		cfg.Speaker = "default"
	}
	f := &FrontEnd{cfg: cfg, log: cfg.Logger, sinceVoice: int(vadHangover * SampleRate / time.Second)}
	if f.log == nil {
		f.log = slog.Default()
	}
	f.SetMicGain(cfg.MicGainDB)
	f.SetSpeakerVolume(cfg.SpeakerVolumeDB)
	var err error
	if f.src, err = OpenSource(cfg.Mic, SourceOptions{Loop: cfg.MicLoop}); err != nil {
		return nil, fmt.Errorf("microphone: %w", err)
	}
	if f.proc, err = dsp.New(f.dspConfigLocked()); err != nil {
		f.src.Close()
		return nil, err
	}
	sink, err := OpenSink(cfg.Speaker)
	if err != nil {
		f.src.Close()
		f.proc.Close()
		return nil, fmt.Errorf("speaker: %w", err)
	}
	f.setSinkLocked(sink)
	return f, nil
}

func (f *FrontEnd) dspConfigLocked() dsp.Config {
	dev := IsDevice(f.cfg.Mic)
	return dsp.Config{EchoOff: !f.cfg.AEC.on(dev), NoiseOff: !f.cfg.NS.on(dev), GainOff: !f.cfg.AGC.on(dev)}
}

// processingLocked reports whether any stage runs.
func (f *FrontEnd) processingLocked() bool {
	c := f.dspConfigLocked()
	return !c.EchoOff || !c.NoiseOff || !c.GainOff
}

// tapper is a Sink that hands what it plays to a function as it plays it.
type tapper interface {
	setTap(func(pcm []int16))
}

// latencyReporter is a device Source or Sink that knows its latency.
type latencyReporter interface {
	latency() time.Duration
}

func (f *FrontEnd) setSinkLocked(sink Sink) {
	f.sink = sink
	t, ok := sink.(tapper)
	f.tapped = ok
	if ok {
		t.setTap(f.proc.Render)
	}
}

// Source returns the microphone side: frames cleaned by the processing.
func (f *FrontEnd) Source() Source { return frontMic{f} }

// Sink returns the speaker side.
func (f *FrontEnd) Sink() Sink { return frontSpeaker{f} }

// diversion is where a diverted FrontEnd's Source and Sink lead.
type diversion struct {
	src  Source
	sink Sink
}

// Divert turns a call's sound into a conference's without stopping the
// call: from now on Source reads src and Sink writes sink, and closing them
// closes src and sink, not the devices (Close does). A mixer between src
// and sink and the devices reaches them through Direct.
func (f *FrontEnd) Divert(src Source, sink Sink) {
	f.diverted.Store(&diversion{src: src, sink: sink})
}

// Direct returns the microphone and speaker themselves, processed as
// Source and Sink are, but past any Divert. Devices can still be switched
// and tones played.
func (f *FrontEnd) Direct() (mic Source, speaker Sink) {
	return deviceMic{f}, deviceSpeaker{f}
}

// SetMic switches to the microphone spec, keeping the old one until the
// new one is open.
func (f *FrontEnd) SetMic(spec string) error {
	f.mu.Lock()
	loop := f.cfg.MicLoop
	f.mu.Unlock()
	src, err := OpenSource(spec, SourceOptions{Loop: loop})
	if err != nil {
		return fmt.Errorf("microphone: %w", err)
	}
	return f.swapMic(spec, src)
}

func (f *FrontEnd) swapMic(spec string, src Source) error {
	f.mu.Lock()
	if f.micClosed {
		f.mu.Unlock()
		src.Close()
		return ErrClosed
	}
	old := f.src
	f.src, f.cfg.Mic = src, spec
	err := f.proc.Set(f.dspConfigLocked())
	f.mu.Unlock()
	old.Close() // wakes a ReadFrame waiting on it, which moves to src
	return err
}

// SetSpeaker switches to the speaker spec, keeping the old one until the
// new one is open.
func (f *FrontEnd) SetSpeaker(spec string) error {
	sink, err := OpenSink(spec)
	if err != nil {
		return fmt.Errorf("speaker: %w", err)
	}
	return f.swapSpeaker(spec, sink)
}

func (f *FrontEnd) swapSpeaker(spec string, sink Sink) error {
	f.mu.Lock()
	if f.speakerClose {
		f.mu.Unlock()
		sink.Close()
		return ErrClosed
	}
	old := f.sink
	if t, ok := old.(tapper); ok {
		t.setTap(nil) // the reference is the new speaker's from now on
	}
	f.cfg.Speaker = spec
	f.setSinkLocked(sink)
	f.mu.Unlock()
	return old.Close()
}

// SetProcessing switches echo cancellation, noise suppression and gain
// control while the call runs.
func (f *FrontEnd) SetProcessing(aec, ns, agc Switch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg.AEC, f.cfg.NS, f.cfg.AGC = aec, ns, agc
	return f.proc.Set(f.dspConfigLocked())
}

// SetMicGain sets the microphone's gain in dB (at most +20).
func (f *FrontEnd) SetMicGain(db float64) {
	f.micGain.Store(math.Float64bits(math.Pow(10, min(db, MaxGainDB)/20)))
}

// SetSpeakerVolume sets the speaker's volume in dB (at most +20).
func (f *FrontEnd) SetSpeakerVolume(db float64) {
	f.volume.Store(math.Float64bits(math.Pow(10, min(db, MaxGainDB)/20)))
}

// PlayTone plays t (NoTone: stops the tone playing) on the speaker, if it
// is a sound device: files record only the call. A tone that repeats plays
// until the next PlayTone; one that does not (busy, call ended) also
// delays Close until it is over.
func (f *FrontEnd) PlayTone(t Tone) {
	f.toneMu.Lock()
	defer f.toneMu.Unlock()
	if f.toneStop != nil {
		f.toneStop()
		f.toneStop, f.toneEnds = nil, false
	}
	f.mu.Lock()
	device := f.tapped && !f.speakerClose
	f.mu.Unlock()
	if t == NoTone || !device {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := PlayTone(ctx, deviceSpeaker{f}, t); err != nil {
			f.log.Debug("tone", "tone", t, "err", err)
		}
	}()
	f.toneStop = func() {
		cancel()
		<-done
	}
	f.toneDone, f.toneEnds = done, !cadences[t].repeat
}

// Fallback is a device that stopped and what replaced it.
type Fallback struct {
	Side     string // "microphone" or "speaker"
	Was, Now string // the specs
	Err      error  // why it stopped
}

// OnFallback has fn told, as well as the Logger, of every device that
// stops and is replaced; fn is called on the microphone's reader or the
// speaker's writer and must not block.
func (f *FrontEnd) OnFallback(fn func(Fallback)) { f.onFallback.Store(&fn) }

func (f *FrontEnd) fellBack(fb Fallback) {
	f.log.Warn(fb.Side+" stopped; switched to "+fb.Now, "was", fb.Was, "err", fb.Err)
	if fn := f.onFallback.Load(); fn != nil {
		(*fn)(fb)
	}
}

// Meter is a FrontEnd's live levels, for level meters.
type Meter struct {
	MicDBFS, SpeakerDBFS float64 // the last frame sent and played
	Voice                bool    // the VAD hears speech (or is not running)
}

// Meter returns the levels now.
func (f *FrontEnd) Meter() Meter {
	return Meter{
		MicDBFS:     math.Float64frombits(f.micDBFS.Load()),
		SpeakerDBFS: math.Float64frombits(f.spkDBFS.Load()),
		Voice:       f.voice.Load(),
	}
}

// Devices returns the microphone and speaker specs in use.
func (f *FrontEnd) Devices() (mic, speaker string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.Mic, f.cfg.Speaker
}

// Close closes both sides.
func (f *FrontEnd) Close() error {
	f.closeMic()
	return f.closeSpeaker()
}

func (f *FrontEnd) closeMic() error {
	f.mu.Lock()
	if f.micClosed {
		f.mu.Unlock()
		return nil
	}
	f.micClosed = true
	src := f.src
	f.freeLocked()
	f.mu.Unlock()
	return src.Close()
}

func (f *FrontEnd) closeSpeaker() error {
	f.toneMu.Lock()
	done, ends := f.toneDone, f.toneEnds
	f.toneMu.Unlock()
	if ends {
		<-done // a busy or call-ended tone plays out (3 s at most)
	}
	f.PlayTone(NoTone)
	f.mu.Lock()
	if f.speakerClose {
		f.mu.Unlock()
		return nil
	}
	f.speakerClose = true
	sink := f.sink
	f.mu.Unlock()
	err := sink.Close() // before the processor goes: its callback feeds it
	f.mu.Lock()
	f.freeLocked()
	f.mu.Unlock()
	return err
}

// freeLocked frees the processor once both sides are closed.
func (f *FrontEnd) freeLocked() {
	if f.micClosed && f.speakerClose {
		f.proc.Close()
	}
}

// readMic reads the next frame from whichever microphone is current.
func (f *FrontEnd) readMic(ctx context.Context, pcm []int16) error {
	f.readMu.Lock()
	defer f.readMu.Unlock()
	var src Source
	for {
		f.mu.Lock()
		var closed bool
		src, closed = f.src, f.micClosed
		f.mu.Unlock()
		if closed {
			return ErrClosed
		}
		err := src.ReadFrame(ctx, pcm)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.mu.Lock()
		swapped, spec := f.src != src, f.cfg.Mic
		f.mu.Unlock()
		if swapped {
			continue // switched while reading
		}
		if !errors.Is(err, ErrDeviceStalled) {
			return err
		}
		f.micFallback(spec, err)
	}
	scale(pcm, pcm, math.Float64frombits(f.micGain.Load()))
	if err := f.process(src, pcm); err != nil {
		return err
	}
	f.micDBFS.Store(math.Float64bits(FrameDBFS(pcm)))
	return nil
}

// micFallback replaces a microphone that stopped with the default one, or
// with silence.
func (f *FrontEnd) micFallback(spec string, cause error) {
	next := "default"
	src, err := OpenSource(next, SourceOptions{})
	if err != nil {
		next, src = "silence", newSilenceSource()
	}
	f.swapMic(next, src)
	f.fellBack(Fallback{Side: "microphone", Was: spec, Now: next, Err: cause})
}

// process runs the processing on a frame captured by src and gates
// silence.
func (f *FrontEnd) process(src Source, pcm []int16) error {
	f.mu.Lock()
	on, lead := f.processingLocked(), f.leadLocked()
	f.mu.Unlock()
	if s, ok := src.(StatsReporter); ok {
		// Samples the microphone dropped still passed in the room.
		if o := s.Stats().Overruns; o >= f.overruns {
			f.proc.SkipCapture(int(o - f.overruns))
			f.overruns = o
		} else {
			f.overruns = o // another microphone
		}
	}
	if !on || len(pcm)%dsp.ChunkSamples != 0 {
		f.voice.Store(true)
		return nil
	}
	voice, err := f.proc.Capture(pcm, lead)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if voice {
		f.sinceVoice = 0
	} else {
		f.sinceVoice += len(pcm)
	}
	open := f.sinceVoice <= int(vadHangover*SampleRate/time.Second)
	f.voice.Store(open)
	if !open {
		clear(pcm) // DTX: libopus sends no audio for digital silence
	}
	return nil
}

// leadLocked is how long after the speaker plays a sample its echo reaches
// process: the devices' latencies, as PortAudio reports them.
func (f *FrontEnd) leadLocked() time.Duration {
	var lead time.Duration
	if l, ok := f.src.(latencyReporter); ok {
		lead += l.latency()
	}
	if l, ok := f.sink.(latencyReporter); ok {
		lead += l.latency()
	}
	return lead
}

// writeSpeaker plays pcm on whichever speaker is current.
func (f *FrontEnd) writeSpeaker(pcm []int16) error {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	if cap(f.scaled) < len(pcm) {
		f.scaled = make([]int16, len(pcm))
	}
	out := f.scaled[:len(pcm)]
	scale(out, pcm, math.Float64frombits(f.volume.Load()))
	f.spkDBFS.Store(math.Float64bits(FrameDBFS(out)))
	for {
		f.mu.Lock()
		sink, tapped, closed, spec := f.sink, f.tapped, f.speakerClose, f.cfg.Speaker
		f.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if !tapped {
			f.proc.Render(out)
		}
		err := sink.WriteFrame(out)
		if err == nil {
			return nil
		}
		f.mu.Lock()
		swapped := f.sink != sink
		f.mu.Unlock()
		switch {
		case swapped:
			continue
		case errors.Is(err, ErrDeviceStalled):
			f.speakerFallback(spec, err)
			continue
		}
		return err
	}
}

// speakerFallback replaces a speaker that stopped with the default one,
// or with nothing.
func (f *FrontEnd) speakerFallback(spec string, cause error) {
	next := "default"
	sink, err := OpenSink(next)
	if err != nil {
		next, sink = "null", &nullSink{}
	}
	f.swapSpeaker(next, sink)
	f.fellBack(Fallback{Side: "speaker", Was: spec, Now: next, Err: cause})
}

// frontMic is a FrontEnd's Source: the microphone, or where Divert
// leads.
type frontMic struct{ f *FrontEnd }

// ReadFrame implements Source.
func (m frontMic) ReadFrame(ctx context.Context, pcm []int16) error {
	if d := m.f.diverted.Load(); d != nil {
		return d.src.ReadFrame(ctx, pcm)
	}
	return m.f.readMic(ctx, pcm)
}

// Close implements Source.
func (m frontMic) Close() error {
	if d := m.f.diverted.Load(); d != nil {
		return d.src.Close()
	}
	return m.f.closeMic()
}

// frontSpeaker is a FrontEnd's Sink: the speaker, or where Divert leads.
type frontSpeaker struct{ f *FrontEnd }

// WriteFrame implements Sink.
func (s frontSpeaker) WriteFrame(pcm []int16) error {
	if d := s.f.diverted.Load(); d != nil {
		return d.sink.WriteFrame(pcm)
	}
	return s.f.writeSpeaker(pcm)
}

// Close implements Sink.
func (s frontSpeaker) Close() error {
	if d := s.f.diverted.Load(); d != nil {
		return d.sink.Close()
	}
	return s.f.closeSpeaker()
}

// deviceMic is the microphone itself, diverted or not.
type deviceMic struct{ f *FrontEnd }

// ReadFrame implements Source.
func (m deviceMic) ReadFrame(ctx context.Context, pcm []int16) error { return m.f.readMic(ctx, pcm) }

// Close implements Source.
func (m deviceMic) Close() error { return m.f.closeMic() }

// deviceSpeaker is the speaker itself, diverted or not.
type deviceSpeaker struct{ f *FrontEnd }

// WriteFrame implements Sink.
func (s deviceSpeaker) WriteFrame(pcm []int16) error { return s.f.writeSpeaker(pcm) }

// Close implements Sink.
func (s deviceSpeaker) Close() error { return s.f.closeSpeaker() }

// scale writes src times gain into dst, saturating; gain 1 copies.
func scale(dst, src []int16, gain float64) {
	if gain == 1 {
		copy(dst, src)
		return
	}
	for i, v := range src {
		dst[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(float64(v)*gain))))
	}
}

// Do runs a text command from a call's standard input or a UI, and
// reports whether text was one of these:
//
//	mic SPEC            switch the microphone (an OpenSource spec)
//	speaker SPEC        switch the speaker (an OpenSink spec)
//	aec|ns|agc on|off|auto
//	volume DB           the speaker's volume in dB
//	mic-gain DB         the microphone's gain in dB
func (f *FrontEnd) Do(text string) (bool, error) {
	name, arg, _ := strings.Cut(strings.TrimSpace(text), " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "mic":
		return true, f.SetMic(arg)
	case "speaker":
		return true, f.SetSpeaker(arg)
	case "aec", "ns", "agc":
		var s Switch
		if err := s.Set(arg); err != nil {
			return true, fmt.Errorf("%s: %w", name, err)
		}
		f.mu.Lock()
		set := f.cfg.AudioSettings
		f.mu.Unlock()
		*map[string]*Switch{"aec": &set.AEC, "ns": &set.NS, "agc": &set.AGC}[name] = s
		return true, f.SetProcessing(set.AEC, set.NS, set.AGC)
	case "volume", "mic-gain":
		db, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(db <= MaxGainDB) {
			return true, fmt.Errorf("%s %q: want dB, at most +%d", name, arg, MaxGainDB)
		}
		if name == "volume" {
			f.SetSpeakerVolume(db)
		} else {
			f.SetMicGain(db)
		}
		return true, nil
	}
	return false, nil
}
