package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Tone is a call-progress tone.
type Tone int8

// The tones. Their cadences follow ITU-T E.180's common European
// choices: 425 Hz, ringback 1 s on and 4 s off, busy 0.5 s on and off.
const (
	NoTone    Tone = iota
	Ringback       // the caller hears it while the callee's phone rings
	Ringtone       // the callee's phone rings
	Busy           // the callee is busy: three seconds of it
	CallEnded      // three falling beeps, once
)

// String names the tone.
func (t Tone) String() string {
	names := [...]string{"none", "ringback", "ringtone", "busy", "call-ended"}
	if t < 0 || int(t) >= len(names) {
		return fmt.Sprintf("tone(%d)", t)
	}
	return names[t]
}

// toneLevel is each tone's peak: -15 dBFS, clearly heard and no louder
// than speech.
var toneLevel = math.Pow(10, -15.0/20) * math.MaxInt16

// toneStep is one step of a cadence: up to two frequencies summed (0 for
// none; both 0 is a pause) for a while.
type toneStep struct {
	hz [2]float64
	d  time.Duration
}

// cadences are the tones' patterns; repeat says whether one plays until
// stopped.
var cadences = map[Tone]struct {
	steps  []toneStep
	repeat bool
}{
	Ringback: {[]toneStep{{[2]float64{425}, time.Second}, {d: 4 * time.Second}}, true},
	Ringtone: {[]toneStep{
		{[2]float64{800, 1000}, 400 * time.Millisecond}, {d: 200 * time.Millisecond},
		{[2]float64{800, 1000}, 400 * time.Millisecond}, {d: 2 * time.Second},
	}, true},
	Busy: {[]toneStep{
		{[2]float64{425}, 500 * time.Millisecond}, {d: 500 * time.Millisecond},
		{[2]float64{425}, 500 * time.Millisecond}, {d: 500 * time.Millisecond},
		{[2]float64{425}, 500 * time.Millisecond}, {d: 500 * time.Millisecond},
	}, false},
	CallEnded: {[]toneStep{
		{[2]float64{880}, 150 * time.Millisecond}, {d: 50 * time.Millisecond},
		{[2]float64{660}, 150 * time.Millisecond}, {d: 50 * time.Millisecond},
		{[2]float64{440}, 250 * time.Millisecond},
	}, false},
}

// toneGenerator renders a tone's cadence.
type toneGenerator struct {
	steps  []toneStep
	repeat bool
	step   int // current step; len(steps) once a tone that does not repeat is over
	pos    int // samples into it
	phase  [2]float64
}

func newToneGenerator(t Tone) (*toneGenerator, error) {
	c, ok := cadences[t]
	if !ok {
		return nil, fmt.Errorf("media: no tone %d", t)
	}
	return &toneGenerator{steps: c.steps, repeat: c.repeat}, nil
}

// fill writes the next len(pcm) samples, silence once the tone is over,
// and reports whether any of them was still the tone's.
func (g *toneGenerator) fill(pcm []int16) bool {
	if g.step == len(g.steps) {
		clear(pcm)
		return false
	}
	for i := range pcm {
		if g.step == len(g.steps) {
			clear(pcm[i:])
			break
		}
		s := g.steps[g.step]
		var v float64
		for k, hz := range s.hz {
			if hz == 0 {
				continue
			}
			v += math.Sin(g.phase[k])
			if g.phase[k] += 2 * math.Pi * hz / SampleRate; g.phase[k] >= 2*math.Pi {
				g.phase[k] -= 2 * math.Pi
			}
		}
		if s.hz[1] != 0 {
			v /= 2 // two tones share the level
		}
		pcm[i] = int16(math.Round(toneLevel * v))
		if g.pos++; g.pos == int(s.d*SampleRate/time.Second) {
			g.pos, g.phase = 0, [2]float64{}
			if g.step++; g.step == len(g.steps) && g.repeat {
				g.step = 0
			}
		}
	}
	return true
}

// PlayTone plays t on sink in real time until it is over, or until ctx
// ends for the tones that repeat (ringback, ringtone).
func PlayTone(ctx context.Context, sink Sink, t Tone) error {
	g, err := newToneGenerator(t)
	if err != nil {
		return err
	}
	var more bool
	src := newPacedSource(func(pcm []int16) { more = g.fill(pcm) })
	frame := make([]int16, FrameSamples)
	for {
		if err := src.ReadFrame(ctx, frame); err != nil {
			return nil // ctx ended
		}
		if !more {
			return nil
		}
		if err := sink.WriteFrame(frame); err != nil {
			return fmt.Errorf("media: play %s tone: %w", t, err)
		}
	}
}

// bell is the terminal's bell character.
const bell = "\a"

// Ring rings for an incoming call until ctx ends: the ringtone on the
// speaker spec if it is a sound device that opens, or else the terminal
// bell, written to term at each ring.
func Ring(ctx context.Context, speaker string, term io.Writer) error {
	if IsDevice(speaker) {
		sink, err := OpenSink(speaker)
		if err == nil {
			defer sink.Close()
			return PlayTone(ctx, sink, Ringtone)
		}
		if !errors.Is(err, ErrNoDevice) {
			return err
		}
	}
	period := time.Duration(0)
	for _, s := range cadences[Ringtone].steps {
		period += s.d
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		if _, err := io.WriteString(term, bell); err != nil {
			return fmt.Errorf("media: ring the terminal bell: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
