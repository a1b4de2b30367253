package main

import (
	"fmt"
	"time"

	"github.com/parley-voip/parley/media"
)

// frameFlag is --frame: the duration of the audio frames a call sends
// (DESIGN §5). The peer copes with whichever it receives.
type frameFlag time.Duration

func (f *frameFlag) String() string {
	if *f == 0 {
		return "20ms"
	}
	return time.Duration(*f).String()
}

func (f *frameFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || (d != 10*time.Millisecond && d != 20*time.Millisecond && d != 40*time.Millisecond) {
		return fmt.Errorf("frame %q: want 10ms, 20ms or 40ms", s)
	}
	*f = frameFlag(d)
	return nil
}

// samples returns the frame length at 48 kHz; 0 for the default.
func (f frameFlag) samples() int {
	return int(time.Duration(f) * media.SampleRate / time.Second)
}
