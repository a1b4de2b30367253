package ui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/media"
)

// watchCall reports when c becomes active and when it ends.
func watchCall(c Call) tea.Cmd {
	return tea.Batch(
		func() tea.Msg {
			select {
			case <-c.Active():
				return msgCallActive{c}
			case <-c.Done():
				return nil // msgCallEnded comes from the other half
			}
		},
		func() tea.Msg {
			st, err := c.Result()
			return msgCallEnded{c, st, err}
		},
	)
}

// tickPeriod is how often the call panel samples the call: often enough
// for the level meters to follow speech.
const tickPeriod = 250 * time.Millisecond

// tick samples c's state, figures and levels while it lasts.
func tick(c Call) tea.Cmd {
	return tea.Tick(tickPeriod, func(time.Time) tea.Msg {
		meter, ok := c.Meter()
		return msgTick{c: c, live: c.LiveStats(), status: c.Status(), meter: meter, metered: ok}
	})
}

func (m *Model) callEnded(msg msgCallEnded) tea.Cmd {
	switch msg.c {
	case m.ringing:
		m.ringing = nil
		m.stopRinging()
		if msg.st.EndReason == call.EndMissed {
			m.setInfo("missed call from " + msg.c.Peer())
		}
		return m.reloadHistory()
	case m.held:
		m.held = nil
		m.setInfo(fmt.Sprintf("the held call with %s ended: %s", msg.c.Peer(), msg.st.EndReason))
		return m.reloadHistory()
	case m.cur:
		m.cur, m.hasLive = nil, false
	default:
		return nil
	}
	m.ended = &endedCall{
		peer:     msg.c.Peer(),
		reason:   msg.st.EndReason,
		duration: time.Duration(msg.st.DurationS * float64(time.Second)),
		err:      msg.err,
	}
	m.setInfo(fmt.Sprintf("call ended: %s, %s", msg.st.EndReason, formatDuration(m.ended.duration)))
	if m.held == nil {
		return m.reloadHistory()
	}
	// Back to the call on hold, which stays held until resumed.
	c, since := m.held, m.heldSince
	m.held = nil
	m.follow(c)
	m.curState, m.curSince = callActive, since
	m.setInfo(fmt.Sprintf("call with %s ended; back to %s, on hold: o resumes", msg.c.Peer(), c.Peer()))
	return tea.Batch(m.reloadHistory(), tick(c))
}

// updateLevels derives the levels since the last tick from the running
// means in the call's stats, for calls without a front end's meter: the
// sent level's sample count is the time since media started (the source
// runs in real time), the received one's the samples played.
func (m *Model) updateLevels(st call.Stats) {
	sentN, recvN := st.DurationS*media.SampleRate, float64(st.TotalSamples)
	if !m.hasLive {
		m.micLevel, m.speakerLevel = st.AudioLevelSentDBFS, st.AudioLevelReceivedDBFS
		return
	}
	prev := m.live
	m.micLevel = recentLevel(prev.AudioLevelSentDBFS, prev.DurationS*media.SampleRate, st.AudioLevelSentDBFS, sentN)
	m.speakerLevel = recentLevel(prev.AudioLevelReceivedDBFS, float64(prev.TotalSamples), st.AudioLevelReceivedDBFS, recvN)
}

// recentLevel is the level of what was measured between two readings of a
// running mean level: mean0 over n0 samples, then mean1 over n1.
func recentLevel(mean0, n0, mean1, n1 float64) float64 {
	if n1 <= n0 {
		return mean1
	}
	energy := func(mean, n float64) float64 {
		if mean <= media.SilenceDBFS {
			return 0
		}
		return math.Pow(10, mean/10) * n
	}
	e := energy(mean1, n1) - energy(mean0, n0)
	if e <= 0 {
		return media.SilenceDBFS
	}
	return max(media.SilenceDBFS, 10*math.Log10(e/(n1-n0)))
}

// ringPeriod is the ringtone's cadence (ITU-T E.180: 1 s on, 4 s off),
// which the terminal bell keeps too.
const ringPeriod = 5 * time.Second

// ring announces c: the ringtone on a sound device, or else the terminal
// bell at each ring, until stopRinging.
func (m *Model) ring(c Call) tea.Cmd {
	// During a call the device is the call's: only the bell rings.
	if !media.IsDevice(orDefault(m.speaker)) || m.cur != nil {
		return tea.Batch(tea.Raw("\a"), bellAfter(c))
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stopRing = cancel
	ring, speaker := m.cfg.Ring, orDefault(m.speaker)
	return func() tea.Msg {
		if err := ring(ctx, speaker); err != nil {
			return msgDone{err: fmt.Errorf("ringtone: %w", err)}
		}
		return nil
	}
}

func bellAfter(c Call) tea.Cmd {
	return tea.Tick(ringPeriod, func(time.Time) tea.Msg { return msgBell{c} })
}

func (m *Model) stopRinging() {
	if m.stopRing != nil {
		m.stopRing()
		m.stopRing = nil
	}
}

// answer takes the ringing call; watchCall has followed it since it rang.
func (m *Model) answer() tea.Cmd {
	if m.ringing == nil {
		m.setError(errors.New("no call is ringing"))
		return nil
	}
	c := m.ringing
	m.ringing = nil
	m.stopRinging()
	if m.cur != nil {
		// The phone holds the call in progress when the waiting one is
		// answered; its figures stop until it is back.
		m.held, m.heldSince = m.cur, m.curSince
	}
	m.follow(c)
	m.setInfo("answering " + c.Peer() + "…")
	return tea.Batch(callDo(c, Call.Answer), tick(c))
}

// callDo gives c a command off the UI goroutine: the call's actor takes it
// from a channel that could be full for a moment.
func callDo(c Call, do func(Call)) tea.Cmd {
	return func() tea.Msg {
		do(c)
		return nil
	}
}

// follow makes c the call in progress; watchCall and tick report on it.
func (m *Model) follow(c Call) {
	m.cur, m.curState, m.curStatus, m.hasLive, m.ended = c, callDialing, c.Status(), false, nil
}

// reject declines the ringing call; it leaves when its end is reported.
func (m *Model) reject() tea.Cmd {
	if m.ringing == nil {
		m.setError(errors.New("no call is ringing"))
		return nil
	}
	m.stopRinging()
	m.setInfo("declined the call from " + m.ringing.Peer())
	return callDo(m.ringing, Call.Reject)
}

func (m *Model) dial(peer string) tea.Cmd {
	if m.cur != nil {
		m.setError(fmt.Errorf("already in a call with %s: hang up first (h or :hangup)", m.cur.Peer()))
		return nil
	}
	m.setInfo("calling " + peer + "…")
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		c, err := b.Dial(ctx, peer)
		return msgDialed{peer, c, err}
	})
}

func (m *Model) hangup() tea.Cmd {
	if m.cur == nil {
		m.setError(errors.New("no call to hang up"))
		return nil
	}
	m.setInfo("hanging up…")
	return callDo(m.cur, Call.Hangup)
}

// set asks the active call to do something and shows its flag as on at
// once, before the next tick confirms it.
func (m *Model) set(flag *bool, on bool, do func(Call)) tea.Cmd {
	if m.cur == nil || m.curState != callActive {
		m.setError(errors.New("no active call"))
		return nil
	}
	*flag = on
	return callDo(m.cur, do)
}
