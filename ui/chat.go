package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
)

// chatLine is one message of a conversation, either way.
type chatLine struct {
	at   time.Time
	from string
	text string
}

// Chat messages.
type (
	msgChat  directory.Chat
	msgInbox struct {
		list []directory.Chat
		err  error
	}
	msgChatSent struct {
		to, text string
		at       time.Time
		err      error
	}
)

func (m *Model) listenChats() tea.Cmd {
	return listen(m.backend.Chats(), func(c directory.Chat) tea.Msg { return msgChat(c) })
}

// loadInbox fetches what was sent while this user was away.
func (m *Model) loadInbox() tea.Cmd {
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		list, err := b.Inbox(ctx)
		return msgInbox{list, err}
	})
}

// received files a message under its sender and says so, unless its
// conversation is open.
// A caller who finds this user offline leaves call.MissedCallNote, which
// is told as a missed call rather than as a message.
func (m *Model) received(c directory.Chat) (missedCall bool) {
	c.From, c.Text = printable(c.From, false), printable(c.Text, true)
	m.chats[c.From] = append(m.chats[c.From], chatLine{at: c.Sent, from: c.From, text: c.Text})
	if c.Text == call.MissedCallNote {
		m.setInfo(fmt.Sprintf("missed call from %s at %s, while you were offline", c.From, c.Sent.Local().Format("Mon 15:04")))
		return true
	}
	if m.page == pageChat && m.chatPeer == c.From {
		return false
	}
	m.unread[c.From]++
	m.setInfo(fmt.Sprintf("%s: %s  (t to reply)", c.From, firstLine(c.Text)))
	return false
}

// openChat shows the conversation with peer, with the input line ready.
func (m *Model) openChat(peer string) tea.Cmd {
	m.page, m.chatPeer = pageChat, peer
	delete(m.unread, peer)
	return m.openInput(inputChat, "")
}

// sendChat sends text to peer over the call with peer, if one is active,
// or else (or if the call's chat is not open) through the directory, which
// keeps it until peer's client takes it.
func (m *Model) sendChat(peer, text string) tea.Cmd {
	if !directory.ValidChatText(text) {
		m.setError(fmt.Errorf("a message is 1-%d characters", directory.MaxChatRunes))
		return nil
	}
	now, c := m.now, m.inCallWith(peer)
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		err := call.ErrNoChat
		if c != nil {
			err = c.Chat(text)
		}
		if errors.Is(err, call.ErrNoChat) {
			err = b.SendChat(ctx, peer, text)
		}
		return msgChatSent{to: peer, text: text, at: now(), err: err}
	})
}

// inCallWith returns the active call with peer, nil if there is none.
func (m *Model) inCallWith(peer string) Call {
	if m.cur != nil && m.curState == callActive && m.cur.Peer() == peer {
		return m.cur
	}
	return nil
}

func (m *Model) chatUpdate(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case msgChat:
		m.received(directory.Chat(msg))
		return m.listenChats()
	case msgInbox:
		if msg.err != nil {
			m.setError(msg.err)
		}
		var missed []string
		for _, c := range msg.list {
			if m.received(c) {
				missed = append(missed, c.From)
			}
		}
		switch n := len(msg.list) - len(missed); {
		case len(missed) > 0 && n > 0:
			m.setInfo(fmt.Sprintf("while you were away: %d message(s), and missed calls from %s", n, strings.Join(missed, ", ")))
		case len(missed) > 0:
			m.setInfo("while you were away: missed calls from " + strings.Join(missed, ", "))
		case n > 0:
			m.setInfo(fmt.Sprintf("%d message(s) came while you were away: t on a contact reads them", n))
		}
	case msgChatSent:
		if msg.err != nil {
			if errors.Is(msg.err, directory.ErrNotContact) {
				msg.err = fmt.Errorf("%s is not your contact (yet): chat goes between contacts", msg.to)
			}
			m.setError(msg.err)
			return nil
		}
		m.chats[msg.to] = append(m.chats[msg.to], chatLine{at: msg.at, text: msg.text})
		if m.page != pageChat || m.chatPeer != msg.to {
			m.setInfo("sent to " + msg.to)
		}
	}
	return nil
}

// chatLines shows the end of the conversation with the open peer.
func (m *Model) chatLines(room int) []string {
	how := "  (kept by the directory until delivered; esc leaves)"
	if m.inCallWith(m.chatPeer) != nil {
		how = "  (over the call while it lasts; esc leaves)"
	}
	lines := []string{styleTitle.Render("Chat with "+m.chatPeer) + styleDim.Render(how)}
	conv := m.chats[m.chatPeer]
	if len(conv) == 0 {
		return append(lines, styleDim.Render("  No messages yet: type one below and press Enter."))
	}
	var body []string
	for _, l := range conv {
		who := "you"
		if l.from != "" {
			who = l.from
		}
		prefix := fmt.Sprintf("  %s %s: ", l.at.Local().Format("15:04"), who)
		for i, line := range splitLines(l.text) {
			if i > 0 {
				prefix = "        "
			}
			body = append(body, prefix+line)
		}
	}
	if rows := max(room-1, 1); len(body) > rows {
		body = body[len(body)-rows:]
	}
	return append(lines, body...)
}
