package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/directory"
)

// key handles a key press in whatever the UI is doing.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	if k.String() == "ctrl+c" {
		return m.quit()
	}
	switch {
	case m.phase == phaseName:
		return m.nameKey(k)
	case m.phase == phaseConnecting:
		return m.connectingKey(k)
	case m.ringing != nil && m.mode == inputNone:
		return m.ringingKey(k)
	case m.mode != inputNone:
		return m.inputKey(k)
	}
	return m.normalKey(k)
}

func (m *Model) nameKey(k tea.KeyPressMsg) tea.Cmd {
	if k.String() != "enter" {
		return m.typeInto(k)
	}
	name := strings.TrimSpace(m.input.Value())
	if !directory.ValidUsername(name) {
		m.setError(fmt.Errorf("%q is not a name: use 3-32 of a-z 0-9 . _ -, starting with a letter or digit", name))
		return nil
	}
	m.phase = phaseConnecting
	m.setInfo("creating your key and registering " + name + "…")
	return m.start(name)
}

// connectingKey lets a login that failed be tried again, or given up.
func (m *Model) connectingKey(k tea.KeyPressMsg) tea.Cmd {
	if !m.messageBad {
		return nil // still trying
	}
	switch k.String() {
	case "r":
		m.setInfo("trying again…")
		return m.start(m.cfg.User)
	case "q":
		return tea.Quit
	}
	return nil
}

func (m *Model) ringingKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "a", "enter":
		return m.answer()
	case "d", "esc":
		return m.reject()
	case ":":
		return m.openInput(inputCommand, "")
	}
	return nil
}

func (m *Model) inputKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		if m.mode == inputFilter {
			m.filter = ""
		}
		if m.mode == inputChat {
			m.page = pageContacts
		}
		m.closeInput()
		return nil
	case "enter":
		line := m.input.Value()
		if m.mode == inputChat {
			m.input.Reset()
			return m.sendChat(m.chatPeer, line)
		}
		mode := m.mode
		m.closeInput()
		if mode == inputCommand {
			return m.execute(line)
		}
		return nil
	case "up", "down":
		if m.mode == inputFilter {
			m.move(map[string]int{"up": -1, "down": 1}[k.String()])
			return nil
		}
	}
	cmd := m.typeInto(k)
	if m.mode == inputFilter {
		m.filter = m.input.Value()
		m.keepSelection()
	}
	return cmd
}

func (m *Model) typeInto(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return cmd
}

// inputLimit bounds the input line: a chat message and its command.
const inputLimit = directory.MaxChatRunes + 64

func (m *Model) openInput(mode inputMode, value string) tea.Cmd {
	m.mode = mode
	m.input.Prompt = map[inputMode]string{inputCommand: ":", inputFilter: "/", inputChat: "> "}[mode]
	m.input.Placeholder = ""
	m.input.CharLimit = inputLimit
	m.input.SetValue(value)
	m.input.CursorEnd()
	return m.input.Focus()
}

func (m *Model) closeInput() {
	m.mode = inputNone
	m.input.Blur()
	if m.filter == "" {
		m.input.Reset()
	}
}

func (m *Model) normalKey(k tea.KeyPressMsg) tea.Cmd {
	if m.page == pageSettings {
		if cmd, ok := m.settingsKey(k); ok {
			return cmd
		}
	}
	if m.page == pageHistory {
		if cmd, ok := m.historyKey(k); ok {
			return cmd
		}
	}
	switch k.String() {
	case "q":
		return m.quit()
	case ":":
		return m.openInput(inputCommand, "")
	case "/":
		m.page = pageContacts
		return m.openInput(inputFilter, m.filter)
	case "esc":
		m.page, m.ended = pageContacts, nil
		if m.filter != "" {
			m.filter = ""
			m.input.Reset()
		}
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "enter", "c":
		if c, ok := m.selectedContact(); ok && m.page == pageContacts {
			if c.State == directory.ContactIncoming {
				return m.contactAction(directory.ContactAccept, c.User, "")
			}
			return m.dial(c.User)
		}
	case "h":
		return m.hangup()
	case "m":
		if m.curStatus.Mute {
			return m.set(&m.curStatus.Mute, false, Call.Unmute)
		}
		return m.set(&m.curStatus.Mute, true, Call.Mute)
	case "o":
		if m.curStatus.Hold {
			return m.set(&m.curStatus.Hold, false, Call.Resume)
		}
		return m.set(&m.curStatus.Hold, true, Call.Hold)
	case "a":
		if c, ok := m.selectedContact(); ok && c.State == directory.ContactIncoming {
			return m.contactAction(directory.ContactAccept, c.User, "")
		}
	case "d":
		if c, ok := m.selectedContact(); ok && c.State == directory.ContactIncoming {
			return m.contactAction(directory.ContactDecline, c.User, "")
		}
	case "s":
		next := map[string]string{
			directory.StatusOnline: directory.StatusAway, directory.StatusAway: directory.StatusBusy,
			directory.StatusBusy: directory.StatusInvisible, directory.StatusInvisible: directory.StatusOnline,
		}[m.status]
		return m.setStatus(next, m.note)
	case "t":
		if c, ok := m.selectedContact(); ok && m.page == pageContacts {
			return m.openChat(c.User)
		}
	case "n":
		return m.openInput(inputCommand, "note "+m.note)
	case "+":
		return m.openInput(inputCommand, "add ")
	case "v", "V":
		return m.stepGain(true, map[string]int{"v": -1, "V": 1}[k.String()])
	case "g", "G":
		return m.stepGain(false, map[string]int{"g": -1, "G": 1}[k.String()])
	case "H":
		return m.showPage(pageHistory)
	case "S":
		return m.showPage(pageSettings)
	case "?":
		return m.showPage(pageHelp)
	}
	return nil
}

// historyKey moves through the history and calls back; ok is false for
// the other keys.
func (m *Model) historyKey(k tea.KeyPressMsg) (cmd tea.Cmd, ok bool) {
	switch k.String() {
	case "up", "k":
		m.historySel = max(m.historySel-1, 0)
	case "down", "j":
		m.historySel = min(m.historySel+1, max(len(m.history)-1, 0))
	case "enter", "c":
		if m.historySel >= len(m.history) {
			return nil, true
		}
		return m.dial(m.history[len(m.history)-1-m.historySel].Peer), true
	default:
		return nil, false
	}
	return nil, true
}

// showPage toggles p against the contact list.
func (m *Model) showPage(p page) tea.Cmd {
	if m.page == p {
		m.page = pageContacts
		return nil
	}
	m.page = p
	if p == pageHistory {
		return m.reloadHistory()
	}
	if p == pageSettings && m.cfg.Devices != nil {
		devices := m.cfg.Devices
		return func() tea.Msg {
			list, err := devices()
			return msgDevices{list, err}
		}
	}
	return nil
}

// quit hangs up, declines what rings, and then leaves.
func (m *Model) quit() tea.Cmd {
	var cmds []tea.Cmd
	if m.cur != nil {
		cmds = append(cmds, callDo(m.cur, Call.Hangup))
	}
	if m.ringing != nil {
		m.stopRinging()
		cmds = append(cmds, callDo(m.ringing, Call.Reject))
	}
	return tea.Sequence(append(cmds, tea.Quit)...)
}
