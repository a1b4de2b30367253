package ui

import (
	"fmt"
	"strconv"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/media"
)

// gainStep is how far one key press moves the speaker volume or the
// microphone gain; minGainDB is as low as the keys go (quieter is mute).
const (
	gainStep  = 3
	minGainDB = -30
)

// nextSwitch cycles a processing switch: auto → on → off → auto.
func nextSwitch(s media.Switch) media.Switch {
	return map[media.Switch]media.Switch{media.Auto: media.On, media.On: media.Off, media.Off: media.Auto}[s]
}

// switchAudio sets one of AEC, NS and AGC (name as on the command line).
func (m *Model) switchAudio(name string, s media.Switch) tea.Cmd {
	a := m.audio
	*map[string]*media.Switch{"aec": &a.AEC, "ns": &a.NS, "agc": &a.AGC}[name] = s
	return m.setAudio(a, name+" "+s.String())
}

// stepGain moves the speaker volume (speaker) or the microphone gain by
// steps of gainStep, within minGainDB..media.MaxGainDB.
func (m *Model) stepGain(speaker bool, steps int) tea.Cmd {
	a := m.audio
	db, what := &a.MicGainDB, "mic gain"
	if speaker {
		db, what = &a.SpeakerVolumeDB, "speaker volume"
	}
	*db = min(max(*db+float64(steps*gainStep), minGainDB), media.MaxGainDB)
	return m.setAudio(a, what+" "+formatDB(*db))
}

// setGain sets the speaker volume or the microphone gain from a command's
// argument.
func (m *Model) setGain(speaker bool, arg string) tea.Cmd {
	db, err := strconv.ParseFloat(arg, 64)
	if err != nil || !(db >= minGainDB && db <= media.MaxGainDB) {
		m.setError(fmt.Errorf("%q: want dB from %d to +%d", arg, minGainDB, media.MaxGainDB))
		return nil
	}
	a := m.audio
	if speaker {
		a.SpeakerVolumeDB = db
	} else {
		a.MicGainDB = db
	}
	return m.setAudio(a, "speaker volume "+formatDB(a.SpeakerVolumeDB)+", mic gain "+formatDB(a.MicGainDB))
}

// setAudio makes a the processing and levels of the calls to come and of
// the call in progress, and keeps them for the next runs (SaveAudio).
func (m *Model) setAudio(a media.AudioSettings, what string) tea.Cmd {
	m.audio = a
	if m.backend != nil {
		m.backend.SetAudio(a)
	}
	var cmds []tea.Cmd
	if m.cur != nil && m.curState == callActive {
		c := m.cur
		cmds = append(cmds, func() tea.Msg {
			if err := c.SetAudio(a); err != nil {
				return msgDone{err: fmt.Errorf("%s: %w", what, err)}
			}
			return nil
		})
	}
	if m.cfg.SaveAudio != nil {
		m.audioGen++
		gen, k, save := m.audioGen, m.audioKept, m.cfg.SaveAudio
		cmds = append(cmds, func() tea.Msg {
			if err := k.keep(gen, func() error { return save(a) }); err != nil {
				return msgDone{err: fmt.Errorf("keep the sound settings: %w", err)}
			}
			return nil
		})
	}
	m.setInfo(what)
	return tea.Batch(cmds...)
}

// keeper runs the saves of settings one at a time, skipping any older
// than one saved already: commands run concurrently, in no set order.
type keeper struct {
	mu  sync.Mutex
	gen int // of the last saved
}

func (k *keeper) keep(gen int, save func() error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen < k.gen {
		return nil
	}
	k.gen = gen
	return save()
}

// formatDB writes a level in dB with its sign.
func formatDB(db float64) string { return fmt.Sprintf("%+.0f dB", db) }
