package jitter

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for the zero fields of a Config.
const (
	defaultClockRate    = 48000
	defaultFrameSamples = 960 // 20 ms at 48 kHz
	defaultMaxDelay     = time.Second
)

// Limits of a valid Config. They bound the buffer's memory: at most
// MaxDelay/frame slots of MaxPayload bytes each (5 s of 2.5 ms frames: ~3 MB).
const (
	minFrameDuration = 2500 * time.Microsecond // Opus's shortest frame
	maxFrameDuration = 120 * time.Millisecond  // Opus's longest packet
	maxMaxDelay      = 5 * time.Second
)

var errInvalidConfig = errors.New("jitter: invalid config")

// Config configures a Buffer. The zero value of every field means its default.
type Config struct {
	// ClockRate is the RTP clock in Hz (default 48000).
	ClockRate int
	// FrameSamples is how many RTP clock ticks one frame (one packet, one
	// Pop) lasts (default 960: 20 ms at 48 kHz).
	FrameSamples int
	// MinDelay is the least target delay: how much later than the fastest
	// recent packet a frame is played, at least (default 0: the target adapts
	// from nothing, so a clean path plays with under one frame of slack).
	MinDelay time.Duration
	// MaxDelay is how far ahead of the playout point a packet may be; one
	// further ahead resyncs the buffer to it (default 1 s, at most 5 s).
	MaxDelay time.Duration
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.ClockRate == 0 {
		c.ClockRate = defaultClockRate
	}
	if c.FrameSamples == 0 {
		c.FrameSamples = defaultFrameSamples
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = defaultMaxDelay
	}
	return c
}

// Validate reports what is wrong with c (after defaults), or nil.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.ClockRate < 1000 || c.ClockRate > 192000 {
		return fmt.Errorf("%w: clock rate %d Hz outside 1000..192000", errInvalidConfig, c.ClockRate)
	}
	frame := c.frameDuration()
	if c.FrameSamples < 0 || frame < minFrameDuration || frame > maxFrameDuration {
		return fmt.Errorf("%w: frame of %d samples at %d Hz lasts %v, outside %v..%v",
			errInvalidConfig, c.FrameSamples, c.ClockRate, frame, minFrameDuration, maxFrameDuration)
	}
	if c.MinDelay < 0 {
		return fmt.Errorf("%w: negative min delay %v", errInvalidConfig, c.MinDelay)
	}
	if c.MaxDelay > maxMaxDelay {
		return fmt.Errorf("%w: max delay %v above %v", errInvalidConfig, c.MaxDelay, maxMaxDelay)
	}
	if c.MaxDelay < c.MinDelay+2*frame {
		return fmt.Errorf("%w: max delay %v must exceed min delay %v by two frames (%v)",
			errInvalidConfig, c.MaxDelay, c.MinDelay, 2*frame)
	}
	return nil
}

func (c Config) frameDuration() time.Duration {
	return time.Duration(c.FrameSamples) * time.Second / time.Duration(c.ClockRate)
}
