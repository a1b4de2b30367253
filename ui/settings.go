package ui

import (
	"context"
	"errors"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/media"
)

// settingsKey handles the settings page's own keys; ok is false for the
// others.
func (m *Model) settingsKey(k tea.KeyPressMsg) (cmd tea.Cmd, ok bool) {
	selected := func() (media.DeviceInfo, bool) {
		if m.deviceSel < len(m.devices) {
			return m.devices[m.deviceSel], true
		}
		return media.DeviceInfo{}, false
	}
	switch k.String() {
	case "up", "k":
		m.deviceSel = max(m.deviceSel-1, 0)
	case "down", "j":
		m.deviceSel = min(m.deviceSel+1, max(len(m.devices)-1, 0))
	case "i":
		d, ok := selected()
		if !ok || d.InputChannels == 0 {
			m.setError(errors.New("select a device with a microphone first"))
			return nil, true
		}
		return m.setDevices("device:"+d.Name, m.speaker), true
	case "o":
		d, ok := selected()
		if !ok || d.OutputChannels == 0 {
			m.setError(errors.New("select a device with a speaker first"))
			return nil, true
		}
		return m.setDevices(m.mic, "device:"+d.Name), true
	case "t":
		return m.testTone(), true
	case "l":
		return m.micCheck(), true
	case "r":
		return m.setRelay(!m.relayOn), true
	case "e":
		return m.switchAudio("aec", nextSwitch(m.audio.AEC)), true
	case "x":
		return m.switchAudio("ns", nextSwitch(m.audio.NS)), true
	case "c":
		return m.switchAudio("agc", nextSwitch(m.audio.AGC)), true
	default:
		return nil, false
	}
	return nil, true
}

// setRelay starts or stops volunteering as a relay.
func (m *Model) setRelay(on bool) tea.Cmd {
	if m.cfg.Relay == nil {
		m.setError(errors.New("this client cannot relay"))
		return nil
	}
	m.relayOn = on
	relay := m.cfg.Relay
	done := "stopped relaying"
	if on {
		done = "relaying if the directory can reach this machine (see the log)"
	}
	return func() tea.Msg {
		if err := relay(on); err != nil {
			return msgDone{err: fmt.Errorf("volunteer relay: %w", err)}
		}
		return msgDone{ok: done}
	}
}

// setDevices makes mic and speaker the devices of the calls to come, and
// of the call in progress.
func (m *Model) setDevices(mic, speaker string) tea.Cmd {
	changedMic, changedSpeaker := "", ""
	if mic != m.mic {
		changedMic = orDefault(mic)
	}
	if speaker != m.speaker {
		changedSpeaker = orDefault(speaker)
	}
	m.mic, m.speaker = mic, speaker
	if m.backend != nil {
		m.backend.SetDevices(mic, speaker)
	}
	m.setInfo("calls will use mic " + orDefault(mic) + " and speaker " + orDefault(speaker))
	if m.cur == nil || m.curState != callActive {
		return nil
	}
	c := m.cur
	return func() tea.Msg {
		if err := c.SwitchDevices(changedMic, changedSpeaker); err != nil {
			return msgDone{err: fmt.Errorf("switch the call's devices: %w", err)}
		}
		return msgDone{ok: "the call now uses mic " + orDefault(mic) + " and speaker " + orDefault(speaker)}
	}
}

func orDefault(spec string) string {
	if spec == "" {
		return "default"
	}
	return spec
}

// check runs a test tone or mic check off the UI goroutine; one at a time,
// and not during a call, which has the devices.
func (m *Model) check(what string, run func(ctx context.Context) (string, error)) tea.Cmd {
	switch {
	case m.checking:
		m.setError(errors.New("a check is running already"))
		return nil
	case m.cur != nil:
		m.setError(errors.New("not during a call: the call has the sound devices"))
		return nil
	}
	m.checking = true
	m.setInfo(what + "…")
	return inBackground(func(ctx context.Context) tea.Msg {
		ok, err := run(ctx)
		return msgChecked{ok, err}
	})
}

func (m *Model) testTone() tea.Cmd {
	speaker, play := orDefault(m.speaker), m.cfg.TestTone
	return m.check("playing a test tone on "+speaker, func(ctx context.Context) (string, error) {
		if err := play(ctx, speaker); err != nil {
			return "", fmt.Errorf("test tone on %s: %w", speaker, err)
		}
		return "played a test tone on " + speaker, nil
	})
}

func (m *Model) micCheck() tea.Cmd {
	mic, level := orDefault(m.mic), m.cfg.MicLevel
	return m.check("listening to "+mic+": say something", func(ctx context.Context) (string, error) {
		dbfs, err := level(ctx, mic)
		if err != nil {
			return "", fmt.Errorf("mic check of %s: %w", mic, err)
		}
		verdict := "good"
		switch {
		case dbfs < -50:
			verdict = "too quiet, or muted"
		case dbfs > -3:
			verdict = "clipping: too loud"
		}
		return fmt.Sprintf("mic %s: loudest %s, %s", mic, meter(dbfs), verdict), nil
	})
}
