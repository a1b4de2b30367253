package media

import (
	"context"
	"time"
)

// Pacer releases one frame per period in real time on a deadline clock: frame
// n is released at start + n*period, where start is the first Wait. A caller
// that falls behind gets its frames at once until it has caught up, so no
// frame is lost over time and the long-run rate is exact.
//
// A Pacer is meant for one goroutine.
type Pacer struct {
	period time.Duration
	clock  clock
	frames int64 // frames released so far
	start  time.Time
}

// NewPacer returns a Pacer that releases one frame per period.
func NewPacer(period time.Duration) *Pacer {
	return &Pacer{period: period, clock: newRealClock()}
}

// Wait blocks until the next frame is due and returns ctx.Err() if ctx ends
// first. The first Wait returns at once and starts the clock.
func (p *Pacer) Wait(ctx context.Context) error {
	if err := p.waitUntil(ctx, nil, time.Duration(p.frames)*p.period); err != nil {
		return err
	}
	p.frames++
	return nil
}

// waitUntil blocks until offset after the pacer's start (set by the first
// call), until ctx ends, or until done closes (then it returns ErrClosed).
func (p *Pacer) waitUntil(ctx context.Context, done <-chan struct{}, offset time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := p.clock.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if wait := p.start.Add(offset).Sub(now); wait > 0 {
		return p.clock.Sleep(ctx, done, wait)
	}
	return nil
}

// samplesDuration is the duration of n samples at SampleRate, exact to the
// nanosecond and free of overflow for any realistic n.
func samplesDuration(n int64) time.Duration {
	return time.Duration(n/SampleRate)*time.Second + time.Duration(n%SampleRate)*time.Second/SampleRate
}

// clock is the time source of a Pacer; tests replace it to check the
// deadline arithmetic without waiting.
type clock interface {
	Now() time.Time
	// Sleep waits for d, returning ctx.Err() if ctx ends first and ErrClosed
	// if done closes first (a nil done never closes).
	Sleep(ctx context.Context, done <-chan struct{}, d time.Duration) error
}

// realClock is the wall clock. It reuses one timer so that pacing a frame
// allocates nothing.
type realClock struct {
	timer *time.Timer
}

func newRealClock() *realClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &realClock{timer: t}
}

func (c *realClock) Now() time.Time { return time.Now() }

func (c *realClock) Sleep(ctx context.Context, done <-chan struct{}, d time.Duration) error {
	c.timer.Reset(d)
	defer c.timer.Stop()
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	}
}
