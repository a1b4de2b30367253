package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
)

// commandHelp lists the command line's commands, for the help page.
var commandHelp = []struct{ usage, what string }{
	{"call NAME, hangup, answer, reject", "calls"},
	{"mute, unmute, hold, resume", "the call in progress"},
	{"chat NAME [TEXT]", "send TEXT, or open the conversation"},
	{"add NAME [MESSAGE]", "ask NAME to become a contact"},
	{"accept, decline, remove, block NAME", "answer a request; drop or block"},
	{"status online|away|busy|invisible [NOTE]", "your presence and note"},
	{"note TEXT", "your note alone (empty: none)"},
	{"mic SPEC, speaker SPEC", "default, device:NAME, tone:HZ, null"},
	{"aec|ns|agc on|off|auto", "echo canceller, noise suppressor, AGC"},
	{"volume DB, mic-gain DB", "speaker volume, mic gain (v/V, g/G)"},
	{"tone, miccheck, relay on|off", "test tone, mic level, relaying"},
	{"history, settings, help, quit", "pages (again: back); leave"},
}

// execute runs one command line (without its ':').
func (m *Model) execute(line string) tea.Cmd {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	name, text, _ := strings.Cut(rest, " ")
	text = strings.TrimSpace(text)
	needName := func(then func(string) tea.Cmd) tea.Cmd {
		if !directory.ValidUsername(name) {
			m.setError(fmt.Errorf(":%s %s: give a username", verb, name))
			return nil
		}
		return then(name)
	}
	contact := func(action directory.ContactAction, message string) tea.Cmd {
		return needName(func(n string) tea.Cmd { return m.contactAction(action, n, message) })
	}
	switch verb {
	case "":
		return nil
	case "call", "c":
		return needName(m.dial)
	case "chat":
		if text == "" {
			return needName(m.openChat)
		}
		return needName(func(n string) tea.Cmd { return m.sendChat(n, text) })
	case "hangup", "h":
		return m.hangup()
	case "answer":
		return m.answer()
	case "mute":
		return m.set(&m.curStatus.Mute, true, Call.Mute)
	case "unmute":
		return m.set(&m.curStatus.Mute, false, Call.Unmute)
	case "hold":
		return m.set(&m.curStatus.Hold, true, Call.Hold)
	case "resume":
		return m.set(&m.curStatus.Hold, false, Call.Resume)
	case "reject":
		return m.reject()
	case "add":
		return contact(directory.ContactAdd, text)
	case "accept":
		return contact(directory.ContactAccept, "")
	case "decline":
		return contact(directory.ContactDecline, "")
	case "remove":
		return contact(directory.ContactRemove, "")
	case "block":
		return contact(directory.ContactBlock, "")
	case "status":
		switch name {
		case directory.StatusOnline, directory.StatusAway, directory.StatusBusy, directory.StatusInvisible:
			return m.setStatus(name, text)
		}
		m.setError(fmt.Errorf(":status %q: want online, away, busy or invisible", name))
		return nil
	case "note":
		return m.setStatus(m.status, rest)
	case "mic":
		return m.setDevices(rest, m.speaker)
	case "speaker":
		return m.setDevices(m.mic, rest)
	case "relay":
		switch rest {
		case "on", "off":
			return m.setRelay(rest == "on")
		}
		m.setError(fmt.Errorf(":relay %q: want on or off", rest))
		return nil
	case "aec", "ns", "agc":
		var s media.Switch
		if err := s.Set(rest); err != nil {
			m.setError(fmt.Errorf(":%s %w", verb, err))
			return nil
		}
		return m.switchAudio(verb, s)
	case "volume", "mic-gain":
		return m.setGain(verb == "volume", rest)
	case "tone":
		return m.testTone()
	case "miccheck":
		return m.micCheck()
	case "history":
		return m.showPage(pageHistory)
	case "settings":
		return m.showPage(pageSettings)
	case "help":
		return m.showPage(pageHelp)
	case "quit", "q":
		return m.quit()
	}
	m.setError(fmt.Errorf("unknown command :%s (? lists them)", verb))
	return nil
}
