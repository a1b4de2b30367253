package ui

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
)

// Colours only add to what symbols and words already say, so the screen
// reads the same without them.
var (
	styleTitle    = lipgloss.NewStyle().Bold(true)
	styleDim      = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	styleBanner   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("11"))
	styleError    = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	styleSelected = lipgloss.NewStyle().Reverse(true)
	styleKey      = lipgloss.NewStyle().Bold(true)
	styleOverlay  = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 2)
	presenceStyle = map[string]lipgloss.Style{
		directory.StatusOnline:  lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		directory.StatusAway:    lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		directory.StatusBusy:    lipgloss.NewStyle().Foreground(lipgloss.Color("9")),
		directory.StatusOffline: styleDim,
	}
)

// presenceSymbols tell presence apart without colour.
var presenceSymbols = map[string]string{
	directory.StatusOnline:    "●",
	directory.StatusAway:      "◐",
	directory.StatusBusy:      "⊘",
	directory.StatusInvisible: "○",
	directory.StatusOffline:   "○",
}

// View draws the whole screen, exactly width × height cells.
func (m *Model) View() tea.View {
	var lines []string
	switch m.phase {
	case phaseName, phaseConnecting:
		lines = m.welcomeLines()
	default:
		lines = m.mainLines()
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, m.width, "…")
	}
	v := tea.NewView(strings.Join(lines, "\n"))
	v.AltScreen = true
	v.WindowTitle = "Parley"
	return v
}

func (m *Model) welcomeLines() []string {
	lines := []string{styleTitle.Render("Welcome to Parley"), ""}
	if m.cfg.Banner != "" {
		lines = append(lines, styleBanner.Render(" "+m.cfg.Banner+" "), "")
	}
	if m.phase == phaseName {
		lines = append(lines,
			"Pick a name your contacts will call you by. It is yours for good: the",
			"directory binds it to the key Parley creates for you now.",
			"",
			m.input.View(),
		)
	} else {
		lines = append(lines, "Connecting to the directory "+m.cfg.Directory+"…")
		if m.messageBad {
			lines = append(lines, "", styleKey.Render("r")+" try again  "+styleKey.Render("q")+" quit")
		}
	}
	lines = append(lines, "", m.messageLine())
	return m.fill(lines, nil)
}

func (m *Model) mainLines() []string {
	top := []string{m.headerLine()}
	if m.cfg.Banner != "" {
		top = append(top, styleBanner.Render(" "+m.cfg.Banner+" "))
	}
	if m.reconnecting {
		top = append(top, styleBanner.Render(" Reconnecting to the directory… "))
	}
	top = append(top, styleDim.Render(strings.Repeat("─", m.width)))
	bottom := []string{m.messageLine(), m.bottomLine()}
	room := m.height - len(top) - len(bottom)

	var body []string
	switch {
	case m.ringing != nil:
		body = m.ringingLines(room)
	case m.page == pageHistory:
		body = m.historyLines(room)
	case m.page == pageSettings:
		body = m.settingsLines()
	case m.page == pageHelp:
		body = m.helpLines()
	case m.page == pageChat:
		body = m.chatLines(room)
	default:
		panel := m.callLines()
		list := m.contactLines(room - len(panel))
		body = append(list, panel...)
	}
	return m.fill(append(top, body...), bottom)
}

// fill pads (or cuts) top to leave exactly room for bottom on the screen.
func (m *Model) fill(top, bottom []string) []string {
	if len(bottom) > m.height {
		bottom = bottom[len(bottom)-max(m.height, 0):]
	}
	room := m.height - len(bottom)
	if len(top) > room {
		top = top[:max(room, 0)]
	}
	for len(top) < room {
		top = append(top, "")
	}
	return append(top, bottom...)
}

func (m *Model) headerLine() string {
	me := m.backend.User()
	status := presenceSymbols[m.status] + " " + m.status
	left := styleTitle.Render("Parley") + "  " + me + "  " + presenceStyle[m.status].Render(status)
	if m.note != "" {
		left += styleDim.Render("  “" + m.note + "”")
	}
	right := styleDim.Render("directory " + m.cfg.Directory)
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 2 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m *Model) messageLine() string {
	if m.messageBad {
		return styleError.Render("✗ " + m.message)
	}
	return m.message
}

// helpBar lists the single keys of the situation, most needed first: as
// many as fit are shown.
func (m *Model) helpBar() string {
	switch {
	case m.ringing != nil:
		return "a answer  d decline  : command"
	case m.page == pageSettings:
		return "↑/↓ select  i mic  o speaker  t tone  l mic check  e echo canc.  x noise supp.  c gain ctl  r relay  esc back"
	case m.page == pageHistory:
		return "↑/↓ select  ↵ call back  esc back  ? help  q quit"
	case m.page != pageContacts:
		return "esc back  ? help  q quit"
	case m.cur != nil:
		return "h hang up  m mute  o hold  v/V volume  g/G mic gain  : command  t chat  ? help  q quit  / filter"
	}
	return "↵ call  t chat  : command  / filter  ? help  q quit  s status  H history  S settings"
}

func (m *Model) bottomLine() string {
	if m.mode != inputNone {
		return m.input.View()
	}
	var b strings.Builder
	width := 0
	for _, item := range strings.Split(m.helpBar(), "  ") {
		w := ansi.StringWidth(item)
		if width > 0 {
			w += 2
		}
		if width+w > m.width {
			continue
		}
		if width > 0 {
			b.WriteString("  ")
		}
		width += w
		k, what, _ := strings.Cut(item, " ")
		b.WriteString(styleKey.Render(k) + " " + styleDim.Render(what))
	}
	return b.String()
}

// contactLines lists the visible contacts in at most room lines, scrolled
// to keep the selection in view.
func (m *Model) contactLines(room int) []string {
	list := m.visible()
	title := fmt.Sprintf("Contacts (%d)", len(m.contacts))
	if m.filter != "" {
		title += fmt.Sprintf("  filter %q: %d", m.filter, len(list))
	}
	lines := []string{styleTitle.Render(title)}
	if len(m.contacts) == 0 {
		return append(lines, styleDim.Render("  No contacts yet: + adds one (:add NAME hello)."))
	}
	rows := max(room-1, 1)
	first := 0
	for i, c := range list {
		if c.User == m.selected && i >= rows {
			first = i - rows + 1
		}
	}
	for _, c := range list[first:min(len(list), first+rows)] {
		lines = append(lines, m.contactRow(c))
	}
	return lines
}

func (m *Model) contactRow(c directory.Contact) string {
	symbol, word, detail := "", "", ""
	style := styleDim
	switch c.State {
	case directory.ContactAccepted:
		status := c.Status
		if status == "" {
			status = directory.StatusOffline
		}
		symbol, word, style = presenceSymbols[status], status, presenceStyle[status]
		detail = c.Note
		if detail == "" && status == directory.StatusOffline && !c.LastSeen.IsZero() {
			detail = "seen " + ago(m.now().Sub(c.LastSeen))
		}
	case directory.ContactIncoming:
		symbol, word, style = "?", "request", styleKey
		detail = "a accept, d decline"
		if c.Message != "" {
			detail = "“" + c.Message + "”  " + detail
		}
	case directory.ContactOutgoing:
		symbol, word, detail = "…", "asked", "waiting for them to accept"
	case directory.ContactDeclined:
		symbol, word = "×", "declined"
	case directory.ContactBlocked:
		symbol, word = "!", "blocked"
	}
	name := c.User
	if n := m.unread[c.User]; n > 0 {
		name = fmt.Sprintf("%s ✉%d", c.User, n)
	}
	row := fmt.Sprintf("%s %-20s %-9s %s", style.Render(symbol), name, word, detail)
	if c.User == m.selected {
		return styleSelected.Render(">") + " " + row
	}
	return "  " + row
}

// ago says how long ago something was, roughly, the way people do.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// firstLine is the first line of s, for one-line notices.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// splitLines splits a message into its lines.
func splitLines(s string) []string { return strings.Split(s, "\n") }

// rule is a titled horizontal line across the screen.
func (m *Model) rule(title string) string {
	return styleDim.Render("── ") + styleTitle.Render(title) + " " + styleDim.Render(strings.Repeat("─", max(m.width-ansi.StringWidth(title)-4, 0)))
}

// callLines is the call panel: the call in progress, or how the last one
// ended; nothing when there is neither.
func (m *Model) callLines() []string {
	switch {
	case m.cur != nil && m.curState == callDialing:
		what := map[call.State]string{
			call.StateDialing: "calling ", call.StateRinging: "ringing ", call.StateConnecting: "connecting to ",
		}[m.curStatus.State]
		if what == "" {
			what = "calling "
		}
		return []string{"", m.rule(what + m.cur.Peer() + "…"), "  h hangs up"}
	case m.cur != nil && m.held != nil:
		return append(m.activeLines(), fmt.Sprintf("  on hold: %s (back when this call ends)", m.held.Peer()))
	case m.cur != nil:
		return m.activeLines()
	case m.ended != nil:
		e := m.ended
		lines := []string{"", m.rule("call ended"),
			fmt.Sprintf("  call with %s ended: %s after %s", e.peer, e.reason, formatDuration(e.duration))}
		// The reason says it all unless the end had a cause of its own.
		var ee *call.EndError
		if e.err != nil && (!errors.As(e.err, &ee) || ee.Err != nil || ee.Reason == call.EndFailed) {
			lines = append(lines, styleError.Render("  "+e.err.Error()))
		}
		return lines
	}
	return nil
}

// opusLookAhead is libopus's encoder delay, part of mouth-to-ear delay.
const opusLookAhead = 6.5

func (m *Model) activeLines() []string {
	elapsed := m.now().Sub(m.curSince)
	title := fmt.Sprintf("call with %s  active %s", m.cur.Peer(), formatDuration(elapsed))
	st := m.curStatus
	for _, f := range []struct {
		on   bool
		what string
	}{{st.Mute, "muted"}, {st.Hold, "on hold"}, {st.PeerHold, "held by " + m.cur.Peer()}, {st.PeerMute, m.cur.Peer() + " muted"}} {
		if f.on {
			title += "  [" + f.what + "]"
		}
	}
	lines := []string{"", m.rule(title)}
	if !m.hasLive {
		return append(lines, "  measuring…")
	}
	live := m.live
	path := live.Path
	switch {
	case live.Path == "relay" && live.RelayAddr != "":
		path = "relay " + live.RelayAddr
	case live.Path == "relay":
		path = "the peer's relay"
	}
	if live.LocalCandidateType != "" {
		path += " (" + live.LocalCandidateType + "/" + live.RemoteCandidateType + ")"
	}
	var lossPct float64
	if n := live.PacketsReceived + live.PacketsLost; n > 0 {
		lossPct = 100 * float64(live.PacketsLost) / float64(n)
	}
	// Mouth to ear: half the round trip, the jitter buffer, a frame of
	// capture and the codec's look-ahead.
	delayMS := live.RTTMS/2 + live.JitterBufferDelayMS + live.EncoderFrameMS + opusLookAhead
	mos := MOS(time.Duration(delayMS*float64(time.Millisecond)), lossPct)
	row := func(a, b, c, d string) string { return fmt.Sprintf("  %-8s %-36s %-8s %s", a, b, c, d) }
	sas := st.SAS
	if sas == "" {
		sas = "-"
	}
	return append(lines,
		row("path", path, "RTT", fmt.Sprintf("%.1f ms", live.RTTMS)),
		row("loss", fmt.Sprintf("%.1f %% (%d/%d)", lossPct, live.PacketsLost, live.PacketsReceived+live.PacketsLost), "jitter", fmt.Sprintf("%.1f ms", live.JitterMS)),
		row("bitrate", fmt.Sprintf("%.1f kbit/s", float64(live.EncoderBitrateBPS)/1000), "buffer", fmt.Sprintf("%.1f ms", live.JitterBufferDelayMS)),
		row("MOS", fmt.Sprintf("%.2f (E-model, %.0f ms)", mos, delayMS), "SAS", sas+" (compare aloud)"),
		row("mic", meter(m.micLevel), "speaker", meter(m.speakerLevel)),
		row("mic gain", formatDB(m.audio.MicGainDB)+" (g/G)", "volume", formatDB(m.audio.SpeakerVolumeDB)+" (v/V)"),
	)
}

// meter draws a level in dBFS as a bar over -60..0 dBFS and its figure.
func meter(dbfs float64) string {
	const cells = 12
	n := int(math.Round((dbfs + 60) / 60 * cells))
	n = min(max(n, 0), cells)
	bar := strings.Repeat("█", n) + strings.Repeat("░", cells-n)
	if dbfs <= media.SilenceDBFS {
		return bar + " silence"
	}
	return bar + fmt.Sprintf(" %.0f dBFS", dbfs)
}

func (m *Model) ringingLines(room int) []string {
	c := m.ringing
	key := "key not pinned yet"
	if m.ringingFP != "" {
		key = "key " + m.ringingFP
	}
	answer := " answer"
	if m.cur != nil {
		answer = " answer, holding " + m.cur.Peer()
	}
	box := styleOverlay.Render(strings.Join([]string{
		styleTitle.Render("Incoming call from " + c.Peer()),
		styleDim.Render(key),
		"",
		styleKey.Render("a") + answer + "    " + styleKey.Render("d") + " decline",
	}, "\n"))
	return strings.Split(lipgloss.Place(m.width, max(room, 5), lipgloss.Center, lipgloss.Center, box), "\n")
}

// historyLines lists the calls, newest first, in at most room lines,
// scrolled to keep the selection in view.
func (m *Model) historyLines(room int) []string {
	lines := []string{styleTitle.Render("History"), styleDim.Render("  → you called, ← they called; newest first; ↵ calls back")}
	if len(m.history) == 0 {
		return append(lines, styleDim.Render("  No calls yet."))
	}
	rows := max(room-len(lines), 1)
	first := max(m.historySel-rows+1, 0)
	for i := first; i < min(len(m.history), first+rows); i++ {
		h := m.history[len(m.history)-1-i]
		arrow := "→"
		if h.Direction == call.Incoming {
			arrow = "←"
		}
		mark := "  "
		if i == m.historySel {
			mark = styleSelected.Render(">") + " "
		}
		lines = append(lines, fmt.Sprintf("%s%s  %s %-20s %-14s %s  %-6s %s", mark, h.Time.Local().Format("Jan 02 15:04"), arrow,
			printable(h.Peer, false), h.EndReason, formatDuration(time.Duration(h.DurationS*float64(time.Second))), h.Path, h.SAS))
	}
	return lines
}

func (m *Model) settingsLines() []string {
	lines := []string{styleTitle.Render("Settings"),
		fmt.Sprintf("  mic      %-20s :mic SPEC (tone:HZ, silence, file:PATH.wav, …)", orDefault(m.mic)),
		fmt.Sprintf("  speaker  %-20s :speaker SPEC (null, file:PATH.wav, …)", orDefault(m.speaker)),
	}
	for _, s := range []struct {
		key, name, what string
		sw              media.Switch
	}{
		{"e", "aec", "echo cancellation", m.audio.AEC},
		{"x", "ns", "noise suppression", m.audio.NS},
		{"c", "agc", "automatic gain control", m.audio.AGC},
	} {
		lines = append(lines, fmt.Sprintf("  %-8s %-20s %s cycles on/off/auto: %s", s.name, s.sw, styleKey.Render(s.key), s.what))
	}
	lines = append(lines, fmt.Sprintf("  levels   %-20s %s/%s volume, %s/%s mic gain (any page)",
		"vol "+formatDB(m.audio.SpeakerVolumeDB)+", mic "+formatDB(m.audio.MicGainDB),
		styleKey.Render("v"), styleKey.Render("V"), styleKey.Render("g"), styleKey.Render("G")))
	if m.cfg.Relay != nil {
		lines = append(lines, fmt.Sprintf("  relay    %-20s %s toggles: carry others' calls", onOff(m.relayOn), styleKey.Render("r")))
	}
	lines = append(lines, "",
		"  Sound devices:  "+styleKey.Render("i")+" use as mic  "+styleKey.Render("o")+" use as speaker  "+
			styleKey.Render("t")+" test tone  "+styleKey.Render("l")+" mic check")
	switch {
	case m.deviceErr != nil:
		lines = append(lines, styleError.Render("  "+m.deviceErr.Error()))
	case len(m.devices) == 0:
		lines = append(lines, "  none found")
	}
	for i, d := range m.devices {
		var roles []string
		if d.InputChannels > 0 {
			roles = append(roles, "mic")
		}
		if d.OutputChannels > 0 {
			roles = append(roles, "speaker")
		}
		def := ""
		if d.DefaultInput || d.DefaultOutput {
			def = "default"
		}
		mark := "  "
		if i == m.deviceSel {
			mark = styleSelected.Render(">") + " "
		}
		lines = append(lines, fmt.Sprintf("  %s%-26s %-11s %-7s %s", mark, d.Name, strings.Join(roles, "+"), def, d.HostAPI))
	}
	return lines
}

func (m *Model) helpLines() []string {
	lines := []string{styleTitle.Render("Keys"),
		"  ↑/↓ j/k select   ↵ or c call   a/d accept/decline   h hang up   / filter",
		"  m mute/unmute    o hold/resume   t chat with the selected contact",
		"  s next status    n note        + add contact        H history   S settings",
		"  esc back         q quit        your key " + m.backend.Fingerprint(),
		"", styleTitle.Render("Commands (after :)"),
	}
	for _, c := range commandHelp {
		lines = append(lines, fmt.Sprintf("  %-40s %s", c.usage, c.what))
	}
	return lines
}
